"""The TensorFlow side of parametric t-SNE: edge sampling and the loss terms."""

import numpy as np
import pytest
import tensorflow as tf

import tsne_native
from tsne_native import _training


@pytest.fixture(scope="module")
def small_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(np.float32)
    P = tsne_native.affinities(X, perplexity=5)
    encoder = _training.build_encoder(5, 2, (8,), center=np.zeros(5, np.float32), scale=1.0,
                                      seed=0)
    sampler = _training.EdgeSampler(encoder, X, P, heads_per_step=500, tails_per_head=3,
                                    dof=1.0, seed=0)
    return P, sampler


def test_sampled_edges_follow_p(small_problem):
    P, sampler = small_problem
    counts = np.zeros(P.shape)
    for step in range(40):
        heads, tails = (t.numpy() for t in sampler.sample_edges(tf.constant(step)))
        np.add.at(counts, (np.repeat(heads, tails.shape[1]), tails.ravel()), 1)
    frequencies = counts / counts.sum()
    assert counts[P.toarray() == 0].sum() == 0  # only edges of P
    # 60,000 draws: the total variation from P is small.
    assert 0.5 * np.abs(frequencies - P.toarray()).sum() < 0.06


def test_sampling_is_reproducible_per_step(small_problem):
    _, sampler = small_problem
    first = [t.numpy() for t in sampler.sample_edges(tf.constant(7))]
    again = [t.numpy() for t in sampler.sample_edges(tf.constant(7))]
    other = [t.numpy() for t in sampler.sample_edges(tf.constant(8))]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


def test_log_mean_kernel_matches_numpy(small_problem):
    _, sampler = small_problem
    y = np.random.default_rng(1).normal(scale=3, size=(30, 2)).astype(np.float32)
    D2 = ((y[:, None] - y[None]) ** 2).sum(-1)
    w = 1.0 / (1.0 + D2)
    expected = np.log((w.sum() - 30) / (30 * 29))
    distinct = tf.range(30)
    got = sampler.log_mean_kernel(tf.constant(y), distinct, distinct)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_log_mean_kernel_skips_draw_groups_and_repeated_points(small_problem):
    _, sampler = small_problem
    y = np.random.default_rng(2).normal(scale=3, size=(6, 2)).astype(np.float32)
    ids = np.array([0, 1, 2, 3, 4, 1])     # point 1 drawn twice
    groups = np.array([0, 1, 2, 0, 0, 3])  # a head (row 0) with its two tails
    w = 1.0 / (1.0 + ((y[:, None] - y[None]) ** 2).sum(-1))
    counted = (ids[:, None] != ids[None, :]) & (groups[:, None] != groups[None, :])
    assert counted.sum() == 30 - 6 - 2  # 6 same-group and 2 same-point ordered pairs left out
    expected = np.log(w[counted].mean())
    got = sampler.log_mean_kernel(tf.constant(y), tf.constant(ids), tf.constant(groups))
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_student_t_kernel_with_other_degrees_of_freedom(small_problem):
    P, sampler = small_problem
    heavy = _training.EdgeSampler(sampler.encoder, np.zeros((40, 5), np.float32), P,
                                  heads_per_step=4, tails_per_head=1, dof=0.5,
                                  seed=0)
    squared = np.array([0.0, 1.0, 9.0], dtype=np.float32)
    np.testing.assert_allclose(heavy.log_kernel(tf.constant(squared)).numpy(),
                               -0.75 * np.log1p(squared / 0.5), rtol=1e-6)
    np.testing.assert_allclose(sampler.log_kernel(tf.constant(squared)).numpy(),
                               -np.log1p(squared), rtol=1e-6)


def test_an_interrupt_swallowed_inside_tensorflow_still_stops_training(monkeypatch):
    """TensorFlow's C++ drops a KeyboardInterrupt raised in Python code it calls
    (seen: a ``__len__`` while it makes the dataset iterator); training must stop anyway."""
    import os
    import signal

    X = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    swallowed = []

    def interrupted_and_swallowed(self, epoch, logs=None):
        if epoch == 1:
            try:
                os.kill(os.getpid(), signal.SIGINT)
            except KeyboardInterrupt:
                swallowed.append(epoch)

    monkeypatch.setattr(_training.EarlyExaggeration, "on_epoch_end", interrupted_and_swallowed,
                        raising=False)
    model = tsne_native.ParametricTSNE(hidden_layers=(8,), n_epochs=50, batch_size=64,
                                       random_state=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    assert swallowed == [1]
    # Handlers are restored: the test process's own Ctrl-C handling is unchanged.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_epochs_of_any_length_train_without_running_out_of_steps():
    """2,000 points at batch size 64 make 42 steps an epoch, not a multiple of the
    4 steps of a compiled call: Keras then read past the step dataset and warned."""
    import warnings

    X = np.random.default_rng(1).normal(size=(2000, 5)).astype(np.float32)
    model = tsne_native.ParametricTSNE(hidden_layers=(8,), n_epochs=3, batch_size=64,
                                       random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    assert model.n_steps_ == 3 * 44  # 42 steps rounded up to whole compiled calls
    assert len(model.loss_history_) == 3


def test_float32_copy_keeps_the_weights_and_computes_in_float32():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    mixed = _training.build_encoder(5, 2, (32, 16), center=np.zeros(5, np.float32), scale=2.0,
                                    seed=0, precision="mixed_bfloat16")
    assert mixed.get_layer("hidden_0").compute_dtype == "bfloat16"
    trained = [rng.normal(scale=0.3, size=w.shape).astype(np.float32)
               for w in mixed.get_weights()]
    mixed.set_weights(trained)
    copy = _training.float32_copy(mixed)
    assert {layer.compute_dtype for layer in copy.layers} == {"float32"}
    for a, b in zip(copy.get_weights(), trained):
        np.testing.assert_array_equal(a, b)
    plain = _training.build_encoder(5, 2, (32, 16), center=np.zeros(5, np.float32), scale=2.0,
                                    seed=1)
    plain.set_weights(trained)
    expected = _training.embed(plain, X)
    np.testing.assert_array_equal(_training.embed(copy, X), expected)
    # bfloat16 keeps about three significant digits
    np.testing.assert_allclose(_training.embed(mixed, X), expected, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True),
    ("fpu sse avx2 amx_bf16 amx_tile", True),
    ("fpu sse avx2 avx512f avx512_vnni", False),
])
def test_native_bfloat16_reads_the_cpu_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\n")
    assert _training.native_bfloat16(cpuinfo) is expected


def test_native_bfloat16_without_cpuinfo_is_false(tmp_path):
    assert _training.native_bfloat16(tmp_path / "missing") is False
