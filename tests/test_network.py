"""The encoder network: its input map, float32 copy, cost and forward pass."""

import numpy as np
import pytest

from tsne_native.parametric import _network


def test_float32_copy_keeps_the_weights_and_computes_in_float32():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    mixed = _network.build_encoder(5, 2, (32, 16), activation="silu", seed=0,
                                   precision="mixed_bfloat16")
    assert mixed.get_layer("hidden_0").compute_dtype == "bfloat16"
    trained = [rng.normal(scale=0.3, size=w.shape).astype(np.float32)
               for w in mixed.get_weights()]
    mixed.set_weights(trained)
    copy = _network.float32_copy(mixed)
    assert {layer.compute_dtype for layer in copy.layers} == {"float32"}
    for a, b in zip(copy.get_weights(), trained):
        np.testing.assert_array_equal(a, b)
    plain = _network.build_encoder(5, 2, (32, 16), activation="silu", seed=1)
    plain.set_weights(trained)
    expected = _network.embed(plain, X)
    np.testing.assert_array_equal(_network.embed(copy, X), expected)
    # bfloat16 keeps about three significant digits
    np.testing.assert_allclose(_network.embed(mixed, X), expected, rtol=0.05, atol=0.05)


@pytest.fixture
def correlated_rows():
    """400 rows of 30 features lying near a 3-D subspace, far from the origin."""
    rng = np.random.default_rng(4)
    basis = rng.normal(size=(3, 30))
    X = rng.normal(size=(400, 3)) * [5.0, 3.0, 1.0] @ basis + 100.0
    return (X + rng.normal(scale=0.01, size=X.shape)).astype(np.float32)


def test_input_map_projects_onto_the_leading_principal_axes(correlated_rows):
    input_map = _network.fit_input_map(correlated_rows, 3, seed=0)
    assert input_map.n_inputs == 3
    prepared = input_map.apply(correlated_rows)
    assert prepared.shape == (400, 3) and prepared.dtype == np.float32
    # Centered, one scale for all coordinates (root mean square 1), distances kept.
    np.testing.assert_allclose(prepared.mean(axis=0), 0, atol=1e-5)
    assert np.sqrt(np.mean(prepared.astype(np.float64) ** 2)) == pytest.approx(1, rel=1e-5)
    centered = correlated_rows - correlated_rows.mean(axis=0)
    distances = np.linalg.norm(centered[:50, None] - centered[None, :50], axis=2)
    prepared_distances = np.linalg.norm(prepared[:50, None] - prepared[None, :50], axis=2)
    np.testing.assert_allclose(prepared_distances * input_map.scale, distances, rtol=1e-3,
                               atol=0.05)


@pytest.mark.parametrize("input_components", [None, 30, 64])
def test_input_map_keeps_features_unless_fewer_components_are_asked(correlated_rows,
                                                                     input_components):
    input_map = _network.fit_input_map(correlated_rows, input_components, seed=0)
    assert input_map.axes is None and input_map.n_inputs == 30
    prepared = input_map.apply(correlated_rows)
    expected = (correlated_rows - correlated_rows.mean(axis=0)) / input_map.scale
    np.testing.assert_allclose(prepared, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("input_components", [None, 3])
def test_the_fitted_network_applies_the_input_map_to_raw_rows(correlated_rows,
                                                               input_components):
    input_map = _network.fit_input_map(correlated_rows, input_components, seed=0)
    trained = _network.build_encoder(input_map.n_inputs, 2, (16,), activation="relu", seed=0)
    fitted = _network.with_input_map(input_map, trained, n_features=30)
    assert fitted.input_shape == (None, 30)
    assert not fitted.layers[0].trainable_weights  # the input map stays as fitted
    np.testing.assert_allclose(_network.embed(fitted, correlated_rows),
                               _network.embed(trained, input_map.apply(correlated_rows)),
                               rtol=1e-4, atol=1e-4)


def test_multiply_adds_count_the_dense_kernels():
    trained = _network.build_encoder(100, 2, (256, 256, 256), activation="silu", seed=0)
    assert _network.multiply_adds(trained) == 100 * 256 + 2 * 256 * 256 + 256 * 2
