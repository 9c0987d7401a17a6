"""The encoder network: its float32 copy and its forward pass."""

import numpy as np

from tsne_native.parametric import _network


def test_float32_copy_keeps_the_weights_and_computes_in_float32():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    mixed = _network.build_encoder(5, 2, (32, 16), center=np.zeros(5, np.float32), scale=2.0,
                                    seed=0, precision="mixed_bfloat16")
    assert mixed.get_layer("hidden_0").compute_dtype == "bfloat16"
    trained = [rng.normal(scale=0.3, size=w.shape).astype(np.float32)
               for w in mixed.get_weights()]
    mixed.set_weights(trained)
    copy = _network.float32_copy(mixed)
    assert {layer.compute_dtype for layer in copy.layers} == {"float32"}
    for a, b in zip(copy.get_weights(), trained):
        np.testing.assert_array_equal(a, b)
    plain = _network.build_encoder(5, 2, (32, 16), center=np.zeros(5, np.float32), scale=2.0,
                                    seed=1)
    plain.set_weights(trained)
    expected = _network.embed(plain, X)
    np.testing.assert_array_equal(_network.embed(copy, X), expected)
    # bfloat16 keeps about three significant digits
    np.testing.assert_allclose(_network.embed(mixed, X), expected, rtol=0.05, atol=0.05)
