"""Scale check (issues 5 and 18): affinities of a million rows, in a fresh process.

    python bench/million.py [--data {distorted,random}] [--system {tsne_native,opentsne}]
                            [--rows N] [--method {auto,exact,approx}] [--recall-rows R]
                            [--stages]

--data distorted (the default): the generated 1,000,000 x 50 MNIST set of
bench/distorted_mnist.py (built and cached on first use).  --data random:
1,000,000 x 50 standard normal float32 rows, the worst case (no neighbour
structure).  --system opentsne runs openTSNE's affinities (Annoy) on the same
rows instead of tsne_native's (``--method``, default "auto").  --rows takes
the first N rows (the threshold of "auto" is measured on such subsets).

Prints the neighbour search and calibration + symmetrization times, the recall
of 200 (--recall-rows) sampled points against a numpy brute-force search, and
the peak RSS of the process (VmHWM), which must stay O(n k + n d); with
--stages, also the time of each stage of the approximate search (k-means, the
nearest centroids, the probed search of the sample and of every row, ...).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import distorted_mnist
from conftest import THREADS
from peak_rss import memory_status_mb

N, D, PERPLEXITY, SEED = 1_000_000, 50, 30, 0
RECALL_ROWS = 200


def sampled_recall(X, indices, rows):
    """Share of the sampled rows' exact neighbours (numpy brute force) found."""
    k = indices.shape[1]
    found = 0
    for row in rows:
        squared = np.einsum("ij,ij->i", X - X[row], X - X[row], dtype=np.float64)
        squared[row] = np.inf
        found += np.intersect1d(np.argpartition(squared, k)[:k], indices[row]).size
    return found / (k * len(rows))


def load_data(kind, rows):
    """(X, description): the first ``rows`` rows to search, float32 (rows, D) in memory."""
    if kind == "random":
        X = np.random.default_rng(SEED).standard_normal((N, D), dtype=np.float32)
        return X[:rows], "standard normal"
    X, _ = distorted_mnist.load(N, SEED)
    return np.array(X[:rows]), "distorted MNIST, PCA 50 (bench/distorted_mnist.py)"


def timing_stages():
    """Wrap the approximate search's stages so each call's time is added up; returns the sums.

    Keys name the stage and, for the centroid and probed searches, the rows
    searched and the centroids or probes per row.
    """
    from tsne_native.affinity import _approximate

    totals = {}

    def timed(owner, name, describe):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            result = original(*args, **kwargs)
            key = describe(name, args)
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - started
            return result

        setattr(owner, name, wrapper)

    def plain(name, args):
        return name

    def centroids(name, args):
        return f"{name}: {len(args[0]):,} rows, {args[2]} of {len(args[1]):,} centroids"

    def probed(name, args):
        return f"{name}: {len(args[3]):,} rows, {args[4].shape[1]} probes"

    timed(_approximate._core, "nearest_centroids", centroids)
    timed(_approximate._core, "probed_knn", probed)
    timed(_approximate._core, "rerank_knn", plain)
    for name in ("kmeans", "project"):
        timed(_approximate, name, plain)
    for name in ("__init__", "passes", "probes_needed"):
        timed(_approximate.RecallCheck, name, lambda name, args: f"RecallCheck.{name}")
    return totals


def tsne_native_affinities(X, k, method):
    """(neighbour indices, search seconds, calibration seconds, nonzeros of P, method)."""
    import tsne_native
    from tsne_native.affinity.neighbors import resolve_method

    searched = resolve_method(method, X.shape)
    started = time.perf_counter()
    knn = tsne_native.nearest_neighbors(X, k, method=method, n_jobs=THREADS, random_state=SEED)
    search_seconds = time.perf_counter() - started
    started = time.perf_counter()
    P = tsne_native.affinities(knn=knn, perplexity=PERPLEXITY, n_jobs=THREADS)
    return (knn[0], search_seconds, time.perf_counter() - started, P.nnz,
            f"method={method!r} ({searched})")


def opentsne_affinities(X, k, method=None):
    """The same for openTSNE: Annoy, its default search on large data, then its calibration.

    ``method`` is tsne_native's and ignored here.
    """
    from openTSNE.affinity import joint_probabilities_nn
    from openTSNE.nearest_neighbors import Annoy

    started = time.perf_counter()
    indices, distances = Annoy(X, k, metric="euclidean", n_jobs=THREADS,
                               random_state=SEED).build()
    search_seconds = time.perf_counter() - started
    started = time.perf_counter()
    P = joint_probabilities_nn(indices, distances, [PERPLEXITY], symmetrize=True,
                               n_jobs=THREADS)
    return indices, search_seconds, time.perf_counter() - started, P.nnz, "openTSNE Annoy"


SYSTEMS = {"tsne_native": tsne_native_affinities, "opentsne": opentsne_affinities}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("distorted", "random"), default="distorted")
    parser.add_argument("--system", choices=sorted(SYSTEMS), default="tsne_native")
    parser.add_argument("--rows", type=int, default=N, help="search the first N rows")
    parser.add_argument("--method", choices=("auto", "exact", "approx"), default="auto",
                        help="tsne_native's search method")
    parser.add_argument("--recall-rows", type=int, default=RECALL_ROWS,
                        help="rows whose neighbours are checked by brute force")
    parser.add_argument("--stages", action="store_true",
                        help="also time each stage of tsne_native's approximate search")
    args = parser.parse_args()
    stages = timing_stages() if args.stages and args.system == "tsne_native" else {}
    X, description = load_data(args.data, args.rows)
    k = 3 * PERPLEXITY
    print(f"{len(X):,} x {D} float32 ({description}), k = {k}, {args.system}, "
          f"{THREADS} threads", flush=True)
    indices, search_seconds, calibration_seconds, nnz, method = SYSTEMS[args.system](
        X, k, args.method)
    print(f"neighbours ({method}): {search_seconds:.1f} s", flush=True)
    for stage, seconds in stages.items():
        print(f"  {stage}: {seconds:.2f} s (summed over its calls)", flush=True)
    print(f"calibration + symmetrization: {calibration_seconds:.1f} s; P has {nnz:,} entries",
          flush=True)
    peak = memory_status_mb("VmHWM")
    print(f"peak RSS: {peak:.0f} MB (data {X.nbytes / 1e6:.0f} MB)", flush=True)
    rows = np.random.default_rng(SEED + 1).choice(len(X), args.recall_rows, replace=False)
    recall = sampled_recall(X, indices, rows)
    print(f"recall of {args.recall_rows} sampled points: {recall:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
