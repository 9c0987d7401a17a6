"""tsne_native.TSNE: fit, transform, persistence, parameters, interrupts."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import tsne_native
from tsne_native import TSNE

# Short schedules keep each fit to about a second.
FAST = dict(perplexity=15, early_exaggeration_iter=100, n_iter=150, random_state=0)


def make_blobs(n_per_blob, seed, dims=10):
    centres = np.random.default_rng(0).normal(scale=8.0, size=(5, dims))
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(5), n_per_blob)
    return centres[labels] + rng.normal(size=(labels.size, dims)), labels


def knn_accuracy(train, train_labels, query, query_labels, exclude_self=False):
    D = ((query[:, None, :] - train[None, :, :]) ** 2).sum(-1)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    nearest = np.argsort(D, axis=1)[:, :10]
    votes = np.array([np.bincount(row).argmax() for row in train_labels[nearest]])
    return np.mean(votes == query_labels)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(120, seed=1)


@pytest.fixture(scope="module")
def fitted(blobs):
    X, _ = blobs
    return TSNE(**FAST).fit(X)


def test_kl_decreases_and_the_history_is_kept(fitted):
    history = fitted.kl_history_
    assert history[:, 0].tolist() == [50, 100, 150, 200, 250]
    assert history[-1, 1] < history[1, 1]  # after the exaggeration
    assert fitted.n_iter_ == 250
    assert fitted.kl_divergence_ == pytest.approx(history[-1, 1], rel=0.05)


@pytest.mark.parametrize("method, n_components", [("bh", 2), ("fft", 2), ("fft", 1), ("bh", 3)])
def test_blobs_come_out_separated(blobs, method, n_components):
    X, labels = blobs
    model = TSNE(n_components=n_components, negative_gradient_method=method, **FAST)
    embedding = model.fit_transform(X)
    assert embedding.shape == (len(X), n_components) and np.isfinite(embedding).all()
    assert knn_accuracy(embedding, labels, embedding, labels, exclude_self=True) >= 0.99


def test_the_map_does_not_depend_on_n_jobs(blobs):
    X, _ = blobs
    for method in ("fft", "bh"):
        one = TSNE(negative_gradient_method=method, n_jobs=1, **FAST).fit_transform(X)
        two = TSNE(negative_gradient_method=method, n_jobs=2, **FAST).fit_transform(X)
        np.testing.assert_array_equal(one, two)


def test_new_points_land_in_their_own_blob(fitted, blobs):
    _, labels = blobs
    new, new_labels = make_blobs(20, seed=2)
    before = fitted.embedding_.copy()
    placed = fitted.transform(new)
    np.testing.assert_array_equal(fitted.embedding_, before)  # the map stays as it is
    assert placed.shape == (len(new), 2)
    assert knn_accuracy(fitted.embedding_, labels, placed, new_labels) >= 0.99


def test_save_and_load_transform_without_the_training_data(fitted, blobs, tmp_path):
    new, _ = make_blobs(10, seed=3)
    fitted.save(tmp_path / "model")
    loaded = tsne_native.load(tmp_path / "model")
    assert isinstance(loaded, TSNE) and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.embedding_, fitted.embedding_)
    np.testing.assert_array_equal(loaded.transform(new), fitted.transform(new))
    with pytest.raises(FileExistsError):
        fitted.save(tmp_path / "model")


def test_precomputed_affinities_and_neighbours(blobs):
    X, labels = blobs
    P = tsne_native.affinities(X, perplexity=15)
    from_p = TSNE(**FAST).fit(affinities=P, X=X)
    np.testing.assert_array_equal(from_p.embedding_, TSNE(**FAST).fit(X).embedding_)
    knn = tsne_native.nearest_neighbors(X, 45)
    from_knn = TSNE(**FAST).fit(knn=knn)
    assert knn_accuracy(from_knn.embedding_, labels, from_knn.embedding_, labels,
                        exclude_self=True) >= 0.99
    with pytest.raises(ValueError, match="fitted on precomputed affinities without X"):
        from_knn.transform(X[:3])


@pytest.mark.parametrize("params, error, message", [
    ({"n_components": 4}, ValueError, r"n_components must be in \[1, 3\]; got 4"),
    ({"perplexity": 0}, ValueError, "perplexity must be a finite number > 0"),
    ({"perplexity": 700}, ValueError, "perplexity=700 is too large for 600 points"),
    ({"learning_rate": "fast"}, TypeError, "learning_rate must be a number"),
    ({"momentum": 1.5}, ValueError, r"momentum must be a number in \[0, 1\)"),
    ({"theta": -1}, ValueError, "theta must be a number >= 0"),
    ({"negative_gradient_method": "exact"}, ValueError, "negative_gradient_method must be"),
    ({"negative_gradient_method": "fft", "n_components": 3}, ValueError, "1-D and 2-D maps"),
    ({"initialization": "spectral"}, ValueError, "initialization must be one of"),
    ({"initialization": np.zeros((5, 2))}, ValueError, r"of shape \(600, 2\)"),
    ({"n_interpolation_points": 9}, ValueError, r"n_interpolation_points must be in \[1, 8\]"),
    ({"n_jobs": 0}, ValueError, "n_jobs must not be 0"),
])
def test_bad_parameters_raise(blobs, params, error, message):
    X, _ = blobs
    with pytest.raises(error, match=message):
        TSNE(**{**FAST, **params}).fit(X)


def test_bad_data_and_misuse_raise(fitted):
    with pytest.raises(ValueError, match="NaN or infinity"):
        TSNE(**FAST).fit(np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]))
    with pytest.raises(ValueError, match="not fitted yet"):
        TSNE().transform(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="X has 7 features, but this TSNE was fitted on 10"):
        fitted.transform(np.zeros((2, 7)))
    with pytest.raises(ValueError, match="square matrix"):
        TSNE(**FAST).fit(affinities=np.ones((3, 4)))


def test_ctrl_c_stops_the_optimization_within_about_a_second(ctrl_c):
    X, _ = make_blobs(1000, seed=4)
    long_fit = TSNE(perplexity=15, n_iter=100_000, negative_gradient_method="fft")
    signalled = []

    def interrupt():
        signalled.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(2.0, interrupt)  # well into the optimization
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        long_fit.fit(X)
    stopped = time.perf_counter()
    timer.join()
    assert stopped - signalled[0] < 1.0
    assert TSNE(**FAST).fit_transform(X[:200]).shape == (200, 2)  # still usable
