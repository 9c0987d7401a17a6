import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import scipy.sparse

from tsne_native import _validation, affinities, calibrate, nearest_neighbors


def row_entropies(conditional):
    """Shannon entropy (nats) of each row of a conditional probability matrix."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(conditional > 0, conditional * np.log(conditional), 0.0)
    return -terms.sum(axis=1)


def sklearn_reference(indices, distances, perplexity):
    manifold = pytest.importorskip("sklearn.manifold._t_sne")
    n, k = indices.shape
    squared = scipy.sparse.csr_matrix(
        (distances.ravel() ** 2, indices.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    return manifold._joint_probabilities_nn(squared, perplexity, 0)


@pytest.mark.parametrize("perplexity", [5, 30])
def test_matches_scikit_learn_reference(blobs, perplexity):
    k = min(len(blobs) - 1, 3 * perplexity)
    indices, distances = nearest_neighbors(blobs, k)
    reference = sklearn_reference(indices, distances, perplexity)
    P = affinities(blobs, perplexity=perplexity)
    assert abs(P - reference).sum() <= 1e-4


def test_joint_probabilities_are_a_symmetric_distribution(blobs):
    P = affinities(blobs, perplexity=20)
    assert isinstance(P, scipy.sparse.csr_matrix)
    assert P.shape == (len(blobs), len(blobs)) and P.dtype == np.float64
    assert abs(P - P.T).max() == 0
    assert (P.data > 0).all()
    assert np.isclose(P.sum(), 1.0, rtol=0, atol=1e-12)
    assert (P.diagonal() == 0).all()
    for row in range(len(blobs)):
        columns = P.indices[P.indptr[row]:P.indptr[row + 1]]
        assert (np.diff(columns) > 0).all()
    assert P.has_sorted_indices


def test_default_neighbor_count_is_three_perplexity(blobs):
    P = affinities(blobs, perplexity=10)
    indices, _ = nearest_neighbors(blobs, 30)
    edges = set(zip(np.repeat(np.arange(len(blobs)), 30), indices.ravel()))
    edges |= {(j, i) for i, j in edges}
    rows, columns = P.nonzero()
    assert set(zip(rows, columns)) == edges


def test_small_data_caps_neighbors_at_n_minus_one():
    X = np.random.default_rng(1).normal(size=(12, 3))
    P = affinities(X, perplexity=5)  # 3 * 5 > 11 neighbours available
    assert P.nnz == 12 * 11


def test_calibrated_entropy_equals_log_perplexity(blobs):
    _, distances = nearest_neighbors(blobs, 90)
    for perplexity in (2.5, 30, 80):
        conditional, sigmas = calibrate(distances, perplexity)
        np.testing.assert_allclose(conditional.sum(axis=1), 1.0, rtol=0, atol=1e-12)
        assert np.abs(row_entropies(conditional) - np.log(perplexity)).max() <= 1e-5
        assert np.isfinite(sigmas).all() and (sigmas > 0).all()


def test_sigmas_are_the_gaussian_bandwidths(blobs):
    _, distances = nearest_neighbors(blobs, 30)
    conditional, sigmas = calibrate(distances, 10)
    kernel = np.exp(-distances ** 2 / (2 * sigmas[:, None] ** 2))
    np.testing.assert_allclose(conditional, kernel / kernel.sum(axis=1, keepdims=True),
                               rtol=1e-9)


def test_duplicates_give_uniform_weights_not_nan():
    rng = np.random.default_rng(3)
    X = np.vstack([np.zeros((40, 5)), rng.normal(size=(60, 5))])  # 40 identical points
    _, distances = nearest_neighbors(X, 30)
    conditional, sigmas = calibrate(distances, 10)
    assert np.isfinite(conditional).all()
    np.testing.assert_allclose(conditional[:40], 1 / 30)
    assert (sigmas[:40] == 0).all()
    P = affinities(X, perplexity=10)
    assert np.isfinite(P.data).all() and np.isclose(P.sum(), 1.0)


def test_all_equal_distances_give_uniform_weights():
    conditional, _ = calibrate(np.full((3, 8), 2.5), 4)
    np.testing.assert_allclose(conditional, 1 / 8)


def test_perplexity_equal_to_k_is_uniform():
    distances = np.sort(np.random.default_rng(2).random((5, 6)), axis=1)
    conditional, sigmas = calibrate(distances, 6)
    np.testing.assert_allclose(conditional, 1 / 6)
    assert np.isinf(sigmas).all()


def test_precomputed_neighbors_give_the_same_matrix(blobs):
    knn = nearest_neighbors(blobs, 45)
    direct = affinities(blobs, perplexity=15)
    for precomputed in (affinities(knn=knn, perplexity=15),
                        affinities(blobs, perplexity=15, knn=knn),
                        affinities(knn=(knn[0].astype(np.int32), knn[1].astype(np.float32)),
                                   perplexity=15)):
        assert abs(direct - precomputed).sum() < 1e-6
    fewer = affinities(knn=knn, perplexity=5, n_neighbors=15)
    assert abs(fewer - affinities(blobs, perplexity=5)).sum() == 0


def test_cosine_metric_uses_angles_only(blobs):
    scaled = blobs * np.random.default_rng(4).uniform(0.5, 3.0, size=(len(blobs), 1))
    P = affinities(blobs, perplexity=10, metric="cosine")
    assert abs(P - affinities(scaled, perplexity=10, metric="cosine")).sum() < 1e-9
    assert abs(P - affinities(blobs, perplexity=10)).sum() > 1e-3


def test_identical_for_any_thread_count(blobs):
    one = affinities(blobs, perplexity=20, n_jobs=1)
    two = affinities(blobs, perplexity=20, n_jobs=2)
    for name in ("indptr", "indices", "data"):
        assert getattr(one, name).tobytes() == getattr(two, name).tobytes()
    c1, s1 = calibrate(nearest_neighbors(blobs, 60)[1], 20, n_jobs=1)
    c2, s2 = calibrate(nearest_neighbors(blobs, 60)[1], 20, n_jobs=2)
    assert c1.tobytes() == c2.tobytes() and s1.tobytes() == s2.tobytes()


def test_verbose_reports_each_stage(blobs, capsys):
    affinities(blobs, perplexity=5, verbose=True)
    err = capsys.readouterr().err
    for stage in ("nearest neighbours", "calibration", "symmetrization"):
        assert stage in err


def test_approximate_neighbours_give_nearly_the_exact_p():
    rng = np.random.default_rng(2)
    centres = rng.normal(scale=4.0, size=(8, 300))
    X = centres[rng.integers(0, 8, 1500)] + rng.normal(size=(1500, 300))
    exact = affinities(X, perplexity=20, method="exact")
    approx = affinities(X, perplexity=20, method="approx", random_state=0)
    assert np.isclose(approx.sum(), 1.0)
    assert abs(approx - approx.T).max() < 1e-15
    assert abs(approx - exact).sum() < 0.02


@pytest.mark.parametrize("kwargs, error, message", [
    ({"perplexity": 0}, ValueError, "perplexity must be a finite number > 0; got 0"),
    ({"perplexity": -3}, ValueError, "perplexity must be a finite number > 0; got -3"),
    ({"perplexity": float("nan")}, ValueError, "perplexity must be a finite number > 0"),
    ({"perplexity": 50}, ValueError, "perplexity=50 is too large.*largest allowed is 29"),
    ({"perplexity": "30"}, TypeError, "perplexity must be a number"),
    ({"n_neighbors": 30}, ValueError, r"n_neighbors must be in \[1, 29\]; got 30"),
    ({"perplexity": 10, "n_neighbors": 5}, ValueError, "perplexity=10 exceeds n_neighbors=5"),
    ({"method": "fast"}, ValueError, "method must be one of 'auto', 'exact', 'approx'; got 'fast'"),
    ({"metric": "l1"}, ValueError, "metric must be one of 'euclidean', 'cosine'; got 'l1'"),
    ({"n_jobs": 0}, ValueError, "n_jobs must not be 0"),
])
def test_bad_parameters(kwargs, error, message):
    X = np.random.default_rng(0).normal(size=(30, 4))
    kwargs = {"perplexity": 5, **kwargs}
    with pytest.raises(error, match=message):
        affinities(X, **kwargs)


def test_needs_data_or_neighbors():
    with pytest.raises(ValueError, match="needs X or precomputed neighbours"):
        affinities(perplexity=5)


@pytest.mark.parametrize("knn, message", [
    ((np.zeros((4, 2), dtype=int),), "pair"),
    ((np.zeros((4, 2)), np.ones((4, 2))), "indices must be integers"),
    ((np.zeros((4, 2), dtype=int), np.ones((4, 3))), "distances have shape"),
    ((np.full((4, 2), 7), np.ones((4, 2))), r"indices must lie in \[0, 3\]"),
    ((np.array([[1, 2], [0, 2], [0, 1], [0, 1]]), -np.ones((4, 2))), "non-negative"),
    ((np.array([[1, 2], [0, 2], [0, 1], [0, 1]]), np.full((4, 2), np.nan)), "NaN or infinity"),
    ((np.array([[0, 2], [0, 2], [0, 1], [0, 1]]), np.ones((4, 2))), "row 0 lists the point itself"),
    ((np.array([[1, 1], [0, 2], [0, 1], [0, 1]]), np.ones((4, 2))),
     "row 0 lists neighbour 1 twice"),
])
def test_bad_precomputed_neighbors(knn, message):
    with pytest.raises((ValueError, TypeError), match=message):
        affinities(knn=knn, perplexity=1.5)


def test_precomputed_neighbors_must_match_data():
    knn = (np.array([[1], [0], [0]]), np.ones((3, 1)))
    with pytest.raises(ValueError, match="knn describes 3 points but X has 4 rows"):
        affinities(np.ones((4, 2)), perplexity=1, knn=knn)


@pytest.mark.parametrize("distances, perplexity, message", [
    (np.ones(5), 2, "must be 2-D"),
    (-np.ones((3, 4)), 2, r"non-negative \(row 0"),
    (np.ones((3, 4)), 5, "perplexity=5 is too large"),
    (np.ones((3, 4)), 0, "perplexity must be a finite number > 0"),
])
def test_calibrate_bad_input(distances, perplexity, message):
    with pytest.raises(ValueError, match=message):
        calibrate(distances, perplexity)


@pytest.mark.parametrize("source", ["X", "knn"])
def test_more_than_the_available_memory_is_refused_up_front(blobs, monkeypatch, source):
    knn = nearest_neighbors(blobs, 30)
    monkeypatch.setattr(_validation, "available_memory", lambda: 100_000)
    # 64 bytes per point and neighbour: 1.5 MB for 800 points x 30 neighbours.
    with pytest.raises(ValueError, match=f"affinities of {len(blobs):,} points with 30 neighbours "
                                         r"each needs about \d\.\d MB of memory beyond the "
                                         r"data, but only 0\.1 MB are available"):
        if source == "X":
            affinities(blobs, perplexity=10)
        else:
            affinities(knn=knn, perplexity=10)


def test_affinities_do_not_import_tensorflow():
    code = ("import sys, numpy as np, tsne_native as t; "
            "t.affinities(np.random.default_rng(0).normal(size=(50, 3)), perplexity=5); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("n, k", [(1_000_000, 60), (2_000, 30_000)])
def test_ctrl_c_interrupts_calibration_within_about_a_second(n, k, ctrl_c):
    # 480 MB of random distances (as much again for the result); calibrating
    # them on one thread takes several seconds, validating them a fraction of
    # one.  Rows of 30,000 neighbours: two blocks of rows in all, so the core
    # must also look for Ctrl-C within a block.
    distances = np.random.default_rng(0).random((n, k))
    delay = 1.0
    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt) as interrupted:
        calibrate(distances, perplexity=20, n_jobs=1)
    stopped_after = time.perf_counter() - start - delay
    timer.join()
    # Raised from the native calibration (the innermost Python frame is the
    # call into the core), not from the checks before it ...
    assert "_core." in str(interrupted.traceback[-1].statement)
    # ... soon after the signal; the full run takes far longer.
    assert stopped_after < 2.0
    # The process stays usable.
    conditional, sigmas = calibrate(distances[:100], perplexity=20)
    np.testing.assert_allclose(conditional.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.isfinite(sigmas).all()
