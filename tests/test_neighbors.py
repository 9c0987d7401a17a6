import os
import signal
import threading
import time

import numpy as np
import pytest

from conftest import brute_force_neighbors, probed_brute_force
from tsne_native import _core, _validation, nearest_neighbors
from tsne_native.affinity import _approximate
from tsne_native.affinity.neighbors import (
    AUTO_APPROX_MIN_SAMPLES,
    AUTO_OWN_COORDINATES_MIN_SAMPLES,
    resolve_method,
)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_matches_brute_force(blobs, metric, dtype):
    X = blobs.astype(dtype)
    indices, distances = nearest_neighbors(X, 15, metric=metric)
    ref_indices, ref_distances = brute_force_neighbors(X, 15, metric)
    assert indices.shape == distances.shape == (len(X), 15)
    assert indices.dtype == np.int64 and distances.dtype == np.float64
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(distances, ref_distances, rtol=1e-9, atol=1e-12)


def test_rows_sorted_and_self_excluded(blobs):
    indices, distances = nearest_neighbors(blobs, 30)
    assert (np.diff(distances, axis=1) >= 0).all()
    assert not (indices == np.arange(len(blobs))[:, None]).any()
    assert all(len(set(row)) == 30 for row in indices)


def test_ties_broken_by_index():
    X = np.zeros((6, 3))  # all duplicates: every distance is 0
    indices, distances = nearest_neighbors(X, 5)
    assert (distances == 0).all()
    expected = [[j for j in range(6) if j != i] for i in range(6)]
    np.testing.assert_array_equal(indices, expected)


def test_k_equal_to_n_minus_one_finds_everyone(blobs):
    X = blobs[:40]
    indices, _ = nearest_neighbors(X, 39)
    for i, row in enumerate(indices):
        assert sorted(row) == [j for j in range(40) if j != i]


def test_integer_and_uint8_data_match_float(blobs):
    X = np.round(np.abs(blobs) * 10).astype(np.uint8)
    expected = nearest_neighbors(X.astype(np.float64), 10)
    for converted in (X, X.astype(np.int64), X.astype(np.int16)):
        _, distances = nearest_neighbors(converted, 10)
        np.testing.assert_allclose(distances, expected[1], rtol=1e-12)
        # Integer data has exact ties; the distance profile is what must agree.


def test_memory_layouts_give_identical_results(blobs, tmp_path):
    X = blobs.astype(np.float32)
    expected = nearest_neighbors(X, 10)
    wide = np.zeros((len(X), 2 * X.shape[1]), dtype=np.float32)
    wide[:, ::2] = X
    path = tmp_path / "X.npy"
    np.save(path, X)
    layouts = {
        "fortran": np.asfortranarray(X),
        "strided": wide[:, ::2],
        "memmap": np.load(path, mmap_mode="r"),
        "list": X.tolist(),
    }
    for name, data in layouts.items():
        indices, distances = nearest_neighbors(data, 10)
        np.testing.assert_array_equal(indices, expected[0], err_msg=name)
        np.testing.assert_array_equal(distances, expected[1], err_msg=name)


def test_reversed_rows_are_a_relabelling(blobs):
    indices, distances = nearest_neighbors(blobs, 10)
    r_indices, r_distances = nearest_neighbors(blobs[::-1], 10)
    n = len(blobs)
    np.testing.assert_allclose(r_distances[::-1], distances, rtol=1e-12)
    np.testing.assert_array_equal(n - 1 - r_indices[::-1], indices)


def test_results_identical_for_any_thread_count(blobs):
    one = nearest_neighbors(blobs, 20, n_jobs=1)
    two = nearest_neighbors(blobs, 20, n_jobs=2)
    three = nearest_neighbors(blobs, 20, n_jobs=3)
    for other in (two, three):
        np.testing.assert_array_equal(one[0], other[0])
        assert one[1].tobytes() == other[1].tobytes()


def test_large_values_do_not_overflow_float32():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(200, 8)) * 1e30).astype(np.float32)
    indices, distances = nearest_neighbors(X, 5)
    ref_indices, ref_distances = brute_force_neighbors(X.astype(np.float64), 5)
    assert np.isfinite(distances).all()
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(distances, ref_distances, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_common_offset_does_not_spoil_the_ranking(dtype):
    rng = np.random.default_rng(1)
    X = (1e4 + rng.normal(size=(300, 16))).astype(dtype)
    original = X.copy()
    indices, distances = nearest_neighbors(X, 10)
    ref_indices, ref_distances = brute_force_neighbors(X.astype(np.float64), 10)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(distances, ref_distances, rtol=1e-6)
    np.testing.assert_array_equal(X, original)  # the caller's array is left alone


def _gaussian_mixture(rng, n=2000, d=200):
    """Clusters whose spread fills a 120-dimensional subspace: high intrinsic dimension."""
    centres = rng.normal(scale=3.0, size=(10, d))
    spread = rng.normal(size=(120, d)) / np.sqrt(120)
    return centres[rng.integers(0, 10, n)] + rng.normal(size=(n, 120)) @ spread


def _curved_manifold(rng, n=2000, d=200):
    """A 2-D sheet bent through 200 dimensions by random Fourier features, plus noise."""
    sheet = rng.uniform(-1, 1, size=(n, 2))
    frequencies = rng.normal(scale=2.0, size=(2, d))
    return np.sin(sheet @ frequencies + rng.uniform(0, np.pi, d)) + 0.01 * rng.normal(size=(n, d))


def _many_duplicates(rng):
    """250 distinct points, each 8 times."""
    return np.repeat(_gaussian_mixture(rng, n=250), 8, axis=0)


def _tie_aware_recall(X, indices, k, metric):
    """Share of found neighbours no farther than each row's exact k-th neighbour."""
    _, exact = brute_force_neighbors(X, k, metric)
    found = _distances_to(X, indices, metric)
    return np.mean(found <= exact[:, -1:] * (1 + 1e-9) + 1e-12)


def _distances_to(X, indices, metric):
    X = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        unit = X / np.linalg.norm(X, axis=1, keepdims=True)
        return 1.0 - np.einsum("id,ikd->ik", unit, unit[indices])
    return np.linalg.norm(X[:, None, :] - X[indices], axis=2)


@pytest.fixture
def inverted_file_on_small_data(monkeypatch):
    """Clusters small enough for the inverted file to be tried on 2,000 rows.

    Yields the list of (clusters, probes, dimensions searched) of each probed search run.
    """
    runs = []
    probed_knn = _core.probed_knn

    def recorded(x, homes, m, queries, probes, c, n_threads):
        if len(queries) == len(x):  # the search itself, not a sampled check
            runs.append((m, probes.shape[1], x.shape[1]))
        return probed_knn(x, homes, m, queries, probes, c, n_threads)

    monkeypatch.setattr(_approximate, "CLUSTER_ROWS", 16)
    monkeypatch.setattr(_approximate, "FIRST_PROBES", 24)
    monkeypatch.setattr(_approximate._core, "probed_knn", recorded)
    yield runs


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("make", [_gaussian_mixture, _curved_manifold, _many_duplicates])
@pytest.mark.parametrize("candidates_from", ["projection", "inverted file"])
def test_approx_recall_against_exact(make, metric, candidates_from, request):
    if candidates_from == "inverted file":
        runs = request.getfixturevalue("inverted_file_on_small_data")
    X = make(np.random.default_rng(3)).astype(np.float32)
    indices, distances = nearest_neighbors(X, 90, method="approx", metric=metric,
                                           random_state=0)
    assert _tie_aware_recall(X, indices, 90, metric) >= 0.99
    if candidates_from == "inverted file":
        assert len(runs) == 1 and runs[0][1] < runs[0][0] / 2  # under half the clusters probed
        assert runs[0][2] == _approximate.PROJECTED_DIMENSIONS
    # The distances reported are the exact ones, nearest first, self excluded.
    np.testing.assert_allclose(distances, _distances_to(X, indices, metric), rtol=1e-5,
                               atol=1e-6)
    assert (np.diff(distances, axis=1) >= 0).all()
    assert not (indices == np.arange(len(X))[:, None]).any()


def test_approx_is_deterministic_for_any_thread_count():
    X = _gaussian_mixture(np.random.default_rng(4))
    one = nearest_neighbors(X, 30, method="approx", n_jobs=1, random_state=5)
    two = nearest_neighbors(X, 30, method="approx", n_jobs=2, random_state=5)
    np.testing.assert_array_equal(one[0], two[0])
    assert one[1].tobytes() == two[1].tobytes()


def test_inverted_file_is_deterministic_for_any_thread_count(inverted_file_on_small_data):
    X = _curved_manifold(np.random.default_rng(4))
    one = nearest_neighbors(X, 30, method="approx", n_jobs=1, random_state=5)
    two = nearest_neighbors(X, 30, method="approx", n_jobs=2, random_state=5)
    assert len(inverted_file_on_small_data) == 2
    np.testing.assert_array_equal(one[0], two[0])
    assert one[1].tobytes() == two[1].tobytes()


def probed_knn(x, probes, m, queries, c, n_threads, bfloat16=False):
    """The probed search with each row's home the first of its ``probes`` (n, p).

    Products in float32 unless ``bfloat16`` (and the CPU has them).
    """
    return _core.probed_knn(x, probes[:, 0], m, queries, probes[queries], c, n_threads,
                            bfloat16=bfloat16)


def test_bfloat16_products_find_what_float32_finds_on_values_they_hold_exactly():
    rng = np.random.default_rng(21)
    x = rng.integers(-8, 9, size=(500, 7)).astype(np.float32)  # 7: a half-filled last pair
    probes = rng.integers(0, 20, size=(500, 4))
    every_row = np.arange(500)

    def distances(points, candidates):  # integer data ties: compare what was found
        return np.sort(((points[:, None, :] - x[candidates]) ** 2).sum(-1), axis=1)

    exact = probed_knn(x, probes, 20, every_row, 30, 2)
    rounded = probed_knn(x, probes, 20, every_row, 30, 2, bfloat16=True)
    np.testing.assert_array_equal(distances(x, rounded), distances(x, exact))
    queries = rng.normal(size=(40, 7)).round().astype(np.float32)
    exact, rounded = [_core.probed_query_knn(x, probes[:, 0], 20, queries, probes[:40], 30, 2,
                                             bfloat16=bfloat16) for bfloat16 in (False, True)]
    np.testing.assert_array_equal(distances(queries, rounded), distances(queries, exact))


def test_approximate_search_keeps_more_candidates_where_it_multiplies_bfloat16():
    extra = _approximate.own_coordinate_candidates(90) - 90
    share = _approximate.BFLOAT16_EXTRA_CANDIDATES
    assert extra == (np.ceil(share * 90) if _core.native_bfloat16() else 0)
    assert extra < 90  # a few, not a second k


def test_probed_search_matches_brute_force_over_the_probed_clusters():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    homes = rng.integers(0, 12, size=300)
    others = np.stack([rng.choice(np.setdiff1d(np.arange(12), [h]), 3, replace=False)
                       for h in homes])
    probes = np.column_stack([homes, others]).astype(np.int64)
    every_row = np.arange(300)
    candidates = probed_knn(x, probes, 12, every_row, 40, 2)
    expected = np.array([probed_brute_force(x, probes, query, 40)[1] for query in every_row])
    found = np.sort(((x[:, None, :] - x[candidates]).astype(np.float64) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-5)
    assert not (candidates == every_row[:, None]).any()
    np.testing.assert_array_equal(candidates, probed_knn(x, probes, 12, every_row, 40, 1))
    # A query's candidates (as a set) do not depend on the other queries searched.
    some = np.array([250, 3, 3, 77])
    np.testing.assert_array_equal(np.sort(probed_knn(x, probes, 12, some, 40, 2)),
                                  np.sort(candidates[some]))


def test_probed_search_pads_rows_whose_clusters_are_too_small():
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    probes = np.array([[0], [0], [1], [1], [1]], dtype=np.int64)  # clusters of 2 and 3 rows
    candidates = probed_knn(x, probes, 2, np.arange(5), 2, 1)
    np.testing.assert_array_equal(candidates[:2], [[1, -1], [0, -1]])
    assert sorted(candidates[2]) == [3, 4]


def test_probed_search_rejects_homes_probes_and_queries_outside_their_range():
    x = np.zeros((4, 2), dtype=np.float32)
    homes = np.array([0, 5, 0, 1])
    probes = np.zeros((2, 1), dtype=np.int64)
    with pytest.raises(ValueError, match="home 5 of row 1 is not a cluster number"):
        _core.probed_knn(x, homes, 2, np.array([0, 1]), probes, 1, 1)
    homes[1] = 1
    with pytest.raises(ValueError, match="query 4 is not a row number"):
        _core.probed_knn(x, homes, 2, np.array([0, 4]), probes, 1, 1)
    probes[1] = 2
    with pytest.raises(ValueError, match="probe 2 of query 1 is not a cluster number"):
        _core.probed_knn(x, homes, 2, np.array([0, 1]), probes, 1, 1)
    with pytest.raises(ValueError, match="probes a row per query"):
        _core.probed_knn(x, homes, 2, np.array([0, 1, 2]), probes, 1, 1)


def test_inverted_file_clusters_grow_with_the_root_of_the_rows_beyond_a_size():
    small = _approximate.inverted_file_shape(100_000)
    assert small == (_approximate.CLUSTER_ROWS, _approximate.FIRST_PROBES)
    rows, probes = _approximate.inverted_file_shape(1_000_000)
    assert rows == 1000 // _approximate.ROWS_PER_ROOT and rows > _approximate.CLUSTER_ROWS
    # As many rows probed first as with the small clusters (within one cluster's rows).
    assert abs(rows * probes - small[0] * small[1]) <= rows
    assert not _approximate.inverted_file_fits(2 * _approximate.FIRST_PROBES
                                               * _approximate.CLUSTER_ROWS)
    assert _approximate.inverted_file_fits((2 * _approximate.FIRST_PROBES + 1)
                                           * _approximate.CLUSTER_ROWS)


@pytest.mark.parametrize("n_centroids, counts", [
    (150, (1, 20, 150)),  # fewer row minima than these counts: every key is offered
    (601, (1, 20, 40, 601)),  # 48 row minima bound the 20th and 40th nearest; a ragged tail
])
def test_nearest_centroids_are_the_brute_force_ones_nearest_first(n_centroids, counts):
    rng = np.random.default_rng(12)
    x = rng.normal(size=(3000, 7)).astype(np.float32)
    centroids = rng.normal(size=(n_centroids, 7)).astype(np.float32)
    squared = ((x[:, None, :].astype(np.float64) - centroids[None]) ** 2).sum(-1)
    for count in counts:
        nearest = _core.nearest_centroids(x, centroids, count, 2)
        expected = np.argsort(squared, axis=1, kind="stable")[:, :count]
        np.testing.assert_allclose(np.take_along_axis(squared, nearest, axis=1),
                                   np.take_along_axis(squared, expected, axis=1), rtol=1e-5)
        np.testing.assert_array_equal(nearest, _core.nearest_centroids(x, centroids, count, 1))
    few = _core.nearest_centroids(x[:100], centroids, 20, 2)  # fewer rows than centroids
    np.testing.assert_array_equal(few, _core.nearest_centroids(x, centroids, 20, 1)[:100])


def test_nearest_centroids_put_the_first_of_equal_centroids_first():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(2000, 5)).astype(np.float32)
    centroids = rng.normal(size=(600, 5)).astype(np.float32)
    centroids[300:400] = centroids[:100]  # centroid 300 + t repeats centroid t
    for count in (1, 10, 30):
        nearest = _core.nearest_centroids(x, centroids, count, 2)
        repeats = nearest >= 300
        repeats &= nearest < 400
        assert not repeats[:, 0].any()
        for i, col in zip(*np.nonzero(repeats)):  # a repeat listed comes after its original
            originals = np.flatnonzero(nearest[i] == nearest[i, col] - 300)
            assert originals.size == 1 and originals[0] < col, (i, nearest[i])


def test_nearest_centroids_rejects_bad_counts_and_shapes():
    x = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="count <= 3"):
        _core.nearest_centroids(x, x[:3], 4, 1)
    with pytest.raises(ValueError, match="count <= 3"):
        _core.nearest_centroids(x, x[:3], 0, 1)
    with pytest.raises(ValueError, match="as many columns"):
        _core.nearest_centroids(x, np.zeros((3, 3), dtype=np.float32), 1, 1)


def _narrow_mixture(rng, n=2000, d=24):
    """Ten elongated clusters in 24 dimensions: data no projection shrinks twofold."""
    centres = rng.normal(scale=4.0, size=(10, d))
    scales = rng.uniform(0.3, 1.5, size=d)
    return centres[rng.integers(0, 10, n)] + rng.normal(size=(n, d)) * scales


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_narrow_data_is_searched_in_an_inverted_file_of_its_own_coordinates(
        metric, offset, inverted_file_on_small_data):
    X = (offset + _narrow_mixture(np.random.default_rng(3))).astype(np.float32)
    indices, distances = nearest_neighbors(X, 30, method="approx", metric=metric,
                                           random_state=0)
    assert _tie_aware_recall(X, indices, 30, metric) >= 0.99
    [(clusters, probes, dimensions)] = inverted_file_on_small_data
    assert dimensions == X.shape[1] and probes < clusters / 2
    np.testing.assert_allclose(distances, _distances_to(X, indices, metric), rtol=1e-5,
                               atol=1e-6)
    assert (np.diff(distances, axis=1) >= 0).all()
    assert not (indices == np.arange(len(X))[:, None]).any()


def test_narrow_data_the_inverted_file_cannot_serve_is_searched_exactly(
        monkeypatch, inverted_file_on_small_data):
    monkeypatch.setattr(_approximate, "TARGET_RECALL", 1.01)  # no probing is good enough
    X = _narrow_mixture(np.random.default_rng(4)).astype(np.float32)
    approx = nearest_neighbors(X, 20, method="approx", random_state=0)
    exact = nearest_neighbors(X, 20)
    assert inverted_file_on_small_data == []
    np.testing.assert_array_equal(approx[0], exact[0])
    np.testing.assert_array_equal(approx[1], exact[1])


def test_auto_searches_approximately_from_its_sizes_on():
    own, projected = AUTO_OWN_COORDINATES_MIN_SAMPLES, AUTO_APPROX_MIN_SAMPLES
    wide = 2 * _approximate.PROJECTED_DIMENSIONS + 1
    assert resolve_method("auto", (own, wide - 1)) == "approx"
    assert resolve_method("auto", (own - 1, wide - 1)) == "exact"
    assert resolve_method("auto", (projected, wide)) == "approx"
    assert resolve_method("auto", (projected - 1, wide)) == "exact"
    assert resolve_method("approx", (10, 2)) == "approx"


def test_approx_of_small_narrow_data_is_the_exact_search(blobs):
    exact = nearest_neighbors(blobs, 10)
    approx = nearest_neighbors(blobs, 10, method="approx", random_state=0)
    auto = nearest_neighbors(blobs, 10, method="auto")
    for other in (approx, auto):
        np.testing.assert_array_equal(other[0], exact[0])
        np.testing.assert_array_equal(other[1], exact[1])


def test_approx_keeps_fine_differences_far_from_the_origin():
    rng = np.random.default_rng(6)
    X = 1e4 + _curved_manifold(rng, n=1500)
    indices, _ = nearest_neighbors(X, 20, method="approx", random_state=0)
    assert _tie_aware_recall(X, indices, 20, "euclidean") >= 0.99


def test_approx_cosine_rejects_all_zero_row():
    X = _gaussian_mixture(np.random.default_rng(8), n=300)
    X[17] = 0
    with pytest.raises(ValueError, match=r"all-zero row \(row 17\)"):
        nearest_neighbors(X, 5, method="approx", metric="cosine")


@pytest.mark.parametrize("bad, message", [
    (np.zeros(10), "must be 2-D"),
    (np.zeros((1, 4)), "at least 2 rows"),
    (np.zeros((10, 0)), "at least 1 feature"),
    (np.array([["a", "b"], ["c", "d"]]), "real numbers; got dtype <U1"),
    (np.ones((5, 2), dtype=complex), "real numbers; got dtype complex128"),
    (np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]), "NaN or infinity \\(first in row 1\\)"),
    (np.array([[0.0, 1.0], [1.0, 2.0], [3.0, np.inf]]), "NaN or infinity \\(first in row 2\\)"),
    (np.full((4, 3), 1e300), "too large"),
])
def test_bad_data_raises_value_error(bad, message):
    with pytest.raises(ValueError, match=message):
        nearest_neighbors(bad, 1)


def test_sparse_input_raises_type_error():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="dense array"):
        nearest_neighbors(scipy_sparse.random(10, 4, density=0.5, format="csr"), 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 10}, r"k must be in \[1, 9\]; got 10"),
    ({"k": 0}, r"k must be in \[1, 9\]; got 0"),
    ({"k": 3, "method": "magic"}, "method must be one of 'auto', 'exact', 'approx'; got 'magic'"),
    ({"k": 3, "metric": "manhattan"},
     "metric must be one of 'euclidean', 'cosine'; got 'manhattan'"),
    ({"k": 3, "n_jobs": 0}, "n_jobs must not be 0"),
    ({"k": 3, "n_jobs": -1000}, "leaves no thread"),
])
def test_bad_parameters_raise_value_error(kwargs, message):
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match=message):
        nearest_neighbors(X, **kwargs)


def test_non_integer_k_raises_type_error():
    with pytest.raises(TypeError, match="k must be an integer; got 2.5"):
        nearest_neighbors(np.ones((5, 2)), 2.5)


def test_more_than_the_available_memory_is_refused_up_front(monkeypatch):
    monkeypatch.setattr(_validation, "available_memory", lambda: 1_000_000)
    X = np.random.default_rng(0).normal(size=(3_000, 4))
    with pytest.raises(ValueError, match="the neighbours of 3,000 points, 10 each needs about "
                                         "1.4 MB of memory beyond the data, but only 1.0 MB"):
        nearest_neighbors(X, 10)
    monkeypatch.setattr(_validation, "available_memory", lambda: None)  # unknown: no check
    assert nearest_neighbors(X, 10)[0].shape == (3_000, 10)


def test_cosine_rejects_all_zero_row():
    X = np.ones((5, 3))
    X[3] = 0
    with pytest.raises(ValueError, match=r"all-zero row \(row 3\)"):
        nearest_neighbors(X, 2, metric="cosine")


@pytest.mark.parametrize("method", ["exact", "approx"])
def test_cosine_of_a_tiny_nonzero_row(method):
    X = np.array([[5e-324], [-0.132], [0.5]])
    X = np.hstack([X] + [np.zeros((3, 129))]) if method == "approx" else X
    X[0, 0] = 1e-170
    indices, distances = nearest_neighbors(X, 1, method=method, metric="cosine")
    # Row 0 points the same way as row 2 (cosine distance 0), opposite to row 1.
    assert indices[0, 0] == 2 and distances[0, 0] == 0.0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # overflow on the way there
@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_approx_search_of_values_beyond_float32_squares(dtype):
    X = np.random.default_rng(0).uniform(-3e18, 3e18, size=(3, 130)).astype(dtype)
    indices, distances = nearest_neighbors(X, 1, method="approx")
    exact_indices, exact_distances = nearest_neighbors(X, 1, method="exact")
    assert (indices == exact_indices).all()
    np.testing.assert_allclose(distances, exact_distances, rtol=1e-12)


def _long_problem():
    # About 0.8 TFLOP of distance products: many seconds on any CPU here.
    return np.random.default_rng(0).random((40_000, 256), dtype=np.float32)


def test_ctrl_c_interrupts_within_about_a_second(ctrl_c):
    X = _long_problem()
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        nearest_neighbors(X, 10)
    elapsed = time.perf_counter() - start
    timer.join()
    # A full run takes far longer; stopping means returning soon after the signal.
    assert elapsed < 3.0
    # The process stays usable.
    indices, _ = nearest_neighbors(X[:100], 3)
    assert indices.shape == (100, 3)


def test_ctrl_c_interrupts_the_probed_search_within_about_a_second(ctrl_c):
    rng = np.random.default_rng(9)
    n, clusters = 300_000, 1_000
    x = rng.normal(size=(n, 64)).astype(np.float32)
    probes = rng.integers(0, clusters, size=(n, 64))
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        _core.probed_knn(x, probes[:, 0], clusters, np.arange(n), probes, 100, 2)
    elapsed = time.perf_counter() - start
    timer.join()
    assert elapsed < 3.0  # the whole search takes far longer


def test_gil_released_during_native_work():
    X = _long_problem()[:12_000]
    ticks = 0
    done = threading.Event()

    def search():
        nearest_neighbors(X, 5, n_jobs=1)
        done.set()

    worker = threading.Thread(target=search)
    worker.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    assert ticks > 50  # the main thread kept running while the search held no GIL


def test_the_docstring_quotes_the_settings_in_force():
    doc = nearest_neighbors.__doc__
    assert "$" not in doc
    assert f"to {_approximate.PROJECTED_DIMENSIONS} dimensions" in doc
    assert f"checked on {_approximate.RECALL_CHECK_ROWS} sampled points" in doc
