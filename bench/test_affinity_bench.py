"""tsne_native's exact affinities against scikit-learn and openTSNE, side by side.

Run (about 20 minutes on 2 cores with MNIST 70k):
    python -m pytest bench/test_affinity_bench.py --benchmark-json=bench/affinity.json
    python bench/report.py bench/affinity.json
"""

import numpy as np
import pytest

import tsne_native
from conftest import THREADS, once

K = 90
PERPLEXITY = 30


@pytest.fixture(scope="module")
def neighbor_graph(bench_data):
    return tsne_native.nearest_neighbors(bench_data, K, n_jobs=THREADS)


# --- the physical reference: all-pairs products at the machine's GEMM rate ----------

@pytest.mark.benchmark(group="exact kNN k=90")
def test_numpy_float32_gemm_all_pairs(benchmark, float32_data):
    """numpy's float32 GEMM over the same all-pairs products (no selection)."""
    X = float32_data
    block = np.empty((4096, len(X)), dtype=np.float32)

    def all_pairs():
        for start in range(0, len(X), 4096):
            rows = X[start:start + 4096]
            np.matmul(rows, X.T, out=block[:len(rows)])

    once(benchmark, all_pairs)
    benchmark.extra_info["gflop"] = 2 * len(X) ** 2 * X.shape[1] / 1e9


@pytest.mark.benchmark(group="exact kNN k=90")
def test_tsne_native_exact_knn(benchmark, bench_data):
    indices, _ = once(benchmark, tsne_native.nearest_neighbors, bench_data, K, n_jobs=THREADS)
    assert indices.shape == (len(bench_data), K)


@pytest.mark.benchmark(group="exact kNN k=90")
def test_sklearn_brute_knn(benchmark, float32_data):
    from sklearn.neighbors import NearestNeighbors

    def search():
        model = NearestNeighbors(n_neighbors=K, algorithm="brute", n_jobs=THREADS)
        return model.fit(float32_data).kneighbors()

    distances, _ = once(benchmark, search)
    assert distances.shape == (len(float32_data), K)


# --- the whole affinity computation -------------------------------------------------

@pytest.mark.benchmark(group="affinities perplexity=30")
def test_tsne_native_affinities_exact(benchmark, bench_data):
    P = once(benchmark, tsne_native.affinities, bench_data, PERPLEXITY, method="exact",
             n_jobs=THREADS)
    assert np.isclose(P.sum(), 1.0)


@pytest.mark.benchmark(group="affinities perplexity=30")
def test_sklearn_exact_affinities(benchmark, float32_data):
    """scikit-learn's TSNE(method="exact" neighbours) path: brute kNN + _joint_probabilities_nn."""
    from sklearn.manifold._t_sne import _joint_probabilities_nn
    from sklearn.neighbors import NearestNeighbors

    def sklearn_path():
        k = min(len(float32_data) - 1, int(3.0 * PERPLEXITY + 1))  # as sklearn's TSNE does
        model = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=THREADS)
        distances = model.fit(float32_data).kneighbors_graph(mode="distance")
        distances.data **= 2
        return _joint_probabilities_nn(distances, PERPLEXITY, 0)

    P = once(benchmark, sklearn_path)
    assert np.isclose(P.sum(), 1.0)


@pytest.mark.benchmark(group="affinities perplexity=30")
def test_opentsne_affinities_annoy(benchmark, bench_data):
    from openTSNE import affinity

    result = once(benchmark, affinity.PerplexityBasedNN, bench_data.astype(np.float32),
                  perplexity=PERPLEXITY, method="annoy", n_jobs=THREADS, random_state=0)
    assert np.isclose(result.P.sum(), 1.0)


# --- calibration + symmetrization on the same neighbour graph -----------------------

@pytest.mark.benchmark(group="calibrate+symmetrize 90 neighbours")
def test_tsne_native_calibrate_symmetrize(benchmark, neighbor_graph):
    P = benchmark.pedantic(tsne_native.affinities, kwargs={
        "knn": neighbor_graph, "perplexity": PERPLEXITY, "n_jobs": THREADS}, rounds=5)
    assert np.isclose(P.sum(), 1.0)


@pytest.mark.benchmark(group="calibrate+symmetrize 90 neighbours")
def test_sklearn_calibrate_symmetrize(benchmark, neighbor_graph):
    import scipy.sparse
    from sklearn.manifold._t_sne import _joint_probabilities_nn

    indices, distances = neighbor_graph
    n = len(indices)
    squared = scipy.sparse.csr_matrix(
        (distances.ravel() ** 2, indices.ravel(), np.arange(0, n * K + 1, K)), shape=(n, n))
    P = benchmark.pedantic(_joint_probabilities_nn, args=(squared, PERPLEXITY, 0), rounds=2)
    assert np.isclose(P.sum(), 1.0)
