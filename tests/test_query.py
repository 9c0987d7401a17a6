"""affinity._query.QueryIndex: the nearest fitted rows of new points, and its native parts."""

import numpy as np
import pytest

from conftest import brute_force_neighbors
from tsne_native import _core
from tsne_native.affinity import _approximate
from tsne_native.affinity._query import QueryIndex


def query_truth(data, queries, k, metric="euclidean"):
    """Each query's k nearest rows of ``data`` by brute force: (indices, distances)."""
    stacked = np.vstack([queries, data])
    expected, distances = brute_force_neighbors(stacked, k + len(queries), metric)
    indices = np.empty((len(queries), k), dtype=np.int64)
    found_distances = np.empty((len(queries), k))
    for row in range(len(queries)):
        keep = expected[row] >= len(queries)  # neighbours among the data rows only
        indices[row] = (expected[row][keep] - len(queries))[:k]
        found_distances[row] = distances[row][keep][:k]
    return indices, found_distances


@pytest.mark.parametrize("n_features", [12, 300])  # searched as is / in a projection
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_queries_get_the_nearest_rows_of_the_data(n_features, metric):
    rng = np.random.default_rng(3)
    # Data on a 12-dimensional subspace: its projection keeps every distance.
    basis = rng.normal(size=(12, n_features))
    data = rng.normal(size=(400, 12)) @ basis
    queries = rng.normal(size=(30, 12)) @ basis
    index = QueryIndex(data, 7, metric, threads=2, random_state=0)
    indices, distances = index.search(queries, threads=2)
    expected, expected_distances = query_truth(data, queries, 7, metric)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(distances, expected_distances, rtol=1e-9, atol=1e-12)


def test_large_data_is_searched_through_an_inverted_file_at_the_recall_target():
    rng = np.random.default_rng(5)
    n = (2 * _approximate.FIRST_PROBES + 1) * _approximate.CLUSTER_ROWS + 500
    assert _approximate.inverted_file_fits(n)
    centers = rng.normal(scale=4.0, size=(40, 6))
    data = (centers[rng.integers(40, size=n)] + rng.normal(size=(n, 6))).astype(np.float32)
    queries = (centers[rng.integers(40, size=300)] + rng.normal(size=(300, 6)))
    index = QueryIndex(data, 15, "euclidean", threads=2, random_state=0)
    assert index.probes is not None  # the inverted file is in use
    found, distances = index.search(queries, threads=2)
    # The truth: exact float64 distances to every row.
    squared = ((queries[:, None, :] - data[None].astype(np.float64)) ** 2).sum(-1)
    truth = np.argsort(squared, axis=1, kind="stable")[:, :15]
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(truth, found)])
    assert recall >= _approximate.TARGET_RECALL
    np.testing.assert_allclose(distances, np.sqrt(np.take_along_axis(squared, found, axis=1)),
                               rtol=1e-6)
    assert np.all(np.diff(distances, axis=1) >= 0)  # nearest first
    # Results come back in the queries' order, whatever order they are searched in.
    again, _ = index.search(queries[::-1], threads=1)
    np.testing.assert_array_equal(again[::-1], found)


def test_the_search_is_the_same_for_any_number_of_threads():
    rng = np.random.default_rng(8)
    data = rng.normal(size=(600, 20))
    queries = rng.normal(size=(50, 20))
    index = QueryIndex(data, 5, "euclidean", threads=1, random_state=0)
    for one, two in zip(index.search(queries, threads=1), index.search(queries, threads=2)):
        np.testing.assert_array_equal(one, two)


def test_a_query_may_ask_for_every_row():
    data = np.arange(12.0).reshape(6, 2)
    indices, distances = QueryIndex(data, 6, "euclidean", 1, 0).search(np.zeros((1, 2)), 1)
    np.testing.assert_array_equal(indices, [np.arange(6)])
    assert distances[0, 0] == np.hypot(0, 1)


def test_native_query_functions_reject_bad_input():
    x = np.zeros((10, 3), dtype=np.float32)
    queries = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="candidate 10 of query 1 is not a row number"):
        _core.rerank_query_knn(x, queries, np.array([[0, 1], [2, 10]]), 1,
                               _core.Metric.euclidean, 1)
    with pytest.raises(ValueError, match="fewer than k = 2 distinct candidates"):
        _core.rerank_query_knn(x, queries, np.array([[0, 0], [1, 2]]), 2,
                               _core.Metric.euclidean, 1)
    with pytest.raises(ValueError, match="as many columns"):
        _core.rerank_query_knn(x, np.ones((2, 4), np.float32), np.zeros((2, 1), np.int64), 1,
                               _core.Metric.euclidean, 1)
    homes = np.zeros(10, dtype=np.int64)
    with pytest.raises(ValueError, match="not a cluster number"):
        _core.probed_query_knn(x, homes, 1, queries, np.array([[0], [1]]), 3, 1)
    with pytest.raises(ValueError, match="1 <= c <= n"):
        _core.probed_query_knn(x, homes, 1, queries, np.zeros((2, 1), np.int64), 11, 1)


def test_probed_query_candidates_are_the_nearest_rows_of_the_probed_clusters():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    homes = rng.integers(5, size=300)
    queries = rng.normal(size=(20, 4)).astype(np.float32)
    probes = np.stack([rng.permutation(5)[:2] for _ in range(20)])
    found = _core.probed_query_knn(x, homes, 5, queries, probes, 6, 2, bfloat16=False)
    for query, probe, row in zip(queries, probes, found):
        members = np.flatnonzero(np.isin(homes, probe))
        squared = ((x[members].astype(np.float64) - query) ** 2).sum(1)
        assert set(row) == set(members[np.argsort(squared, kind="stable")[:6]])
