"""Approximate neighbours: tsne_native against openTSNE, hnswlib and pynndescent, side by side.

Run (about 4 minutes on 2 cores with MNIST 70k):
    python -m pytest bench/test_approx_bench.py --benchmark-json=bench/approx.json
    python bench/report.py bench/approx.json

Recall is measured against tsne_native's exact neighbours (checked against
numpy brute force by the tests): the share of each point's 90 exact
neighbours that a method finds, averaged over points.
"""

import numpy as np
import pytest

import tsne_native
from conftest import THREADS, once

K = 90
PERPLEXITY = 30
SEED = 0


@pytest.fixture(scope="module")
def exact_indices(bench_data):
    indices, _ = tsne_native.nearest_neighbors(bench_data, K, method="exact", n_jobs=THREADS)
    return indices


def record_recall(benchmark, indices, exact_indices):
    """Store the mean share of the exact K neighbours found; return it."""
    indices = np.asarray(indices)[:, :K]
    hits = sum(np.intersect1d(found, true, assume_unique=True).size
               for found, true in zip(indices, exact_indices))
    recall = hits / exact_indices.size
    benchmark.extra_info["recall"] = round(recall, 4)
    return recall


# --- neighbour search alone --------------------------------------------------------

@pytest.mark.benchmark(group="approximate kNN k=90")
def test_tsne_native_approx_knn(benchmark, bench_data, exact_indices):
    indices, _ = once(benchmark, tsne_native.nearest_neighbors, bench_data, K, method="approx",
                      n_jobs=THREADS, random_state=SEED)
    assert record_recall(benchmark, indices, exact_indices) > 0.5


@pytest.mark.benchmark(group="approximate kNN k=90")
def test_hnswlib_knn(benchmark, float32_data, exact_indices):
    """hnswlib with openTSNE's settings (M=16, ef_construction=200, ef=2k)."""
    hnswlib = pytest.importorskip("hnswlib")

    def search():
        index = hnswlib.Index(space="l2", dim=float32_data.shape[1])
        index.init_index(max_elements=len(float32_data), M=16, ef_construction=200,
                         random_seed=SEED)
        index.add_items(float32_data, num_threads=THREADS)
        index.set_ef(2 * K)
        indices, _ = index.knn_query(float32_data, k=K + 1, num_threads=THREADS)
        return indices[:, 1:]

    assert record_recall(benchmark, once(benchmark, search), exact_indices) > 0.5


@pytest.mark.benchmark(group="approximate kNN k=90")
def test_pynndescent_knn(benchmark, float32_data, exact_indices):
    from pynndescent import NNDescent

    def search():
        index = NNDescent(float32_data, n_neighbors=K + 1, random_state=SEED, n_jobs=THREADS)
        return index.neighbor_graph[0][:, 1:]

    assert record_recall(benchmark, once(benchmark, search), exact_indices) > 0.5


# --- the whole affinity computation --------------------------------------------------

@pytest.mark.benchmark(group="affinities perplexity=30, approximate neighbours")
def test_tsne_native_affinities_default(benchmark, bench_data):
    """The default method ("auto": approximate on MNIST-sized data)."""
    P = once(benchmark, tsne_native.affinities, bench_data, PERPLEXITY, n_jobs=THREADS,
             random_state=SEED)
    assert np.isclose(P.sum(), 1.0)


@pytest.mark.benchmark(group="affinities perplexity=30, approximate neighbours")
@pytest.mark.parametrize("method", ["annoy", "hnsw", "pynndescent"])
def test_opentsne_affinities(benchmark, float32_data, exact_indices, method):
    from openTSNE import affinity

    if method == "hnsw":
        pytest.importorskip("hnswlib")
    result = once(benchmark, affinity.PerplexityBasedNN, float32_data, perplexity=PERPLEXITY,
                  method=method, n_jobs=THREADS, random_state=SEED)
    assert np.isclose(result.P.sum(), 1.0)
    neighbors = result._PerplexityBasedNN__neighbors  # openTSNE keeps its graph private
    assert record_recall(benchmark, neighbors, exact_indices) > 0.5
