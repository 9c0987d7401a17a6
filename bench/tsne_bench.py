"""tsne_native.TSNE against openTSNE (and scikit-learn) on MNIST, side by side, same threads.

Run (MNIST 60k fit + 10k transform; about 15 minutes on 2 cores):
    python bench/tsne_bench.py                       # every part
    python bench/tsne_bench.py --parts optimization  # the optimization alone, same P

Parts:
- ``optimization``: the same P (tsne_native.affinities) and the same PCA start
  for both, 250 + 500 iterations; wall time and the exact KL(P || Q) of each
  final map (Z summed over all pairs).
- ``fit``: each library's whole fit from X with its defaults, then transform
  of the test split: fit time, train recall@15, test 10-NN accuracy,
  transform recall@15 and throughput.
- ``sklearn``: scikit-learn's Barnes-Hut TSNE on the first 10,000 points.
- ``transform_steps``: one fit of ours, then transform of the test split with
  the placement's step count (``tsne._placement.TRANSFORM["n_iter"]``) set to
  each of ``--steps``: test 10-NN accuracy, transform recall@15, points/s.
- ``query``: the search transform runs for new points' 15 nearest training
  points (``affinity._query.QueryIndex``, as ``TSNE.fit`` builds it): the
  time to build the index, to search it for the test split, and the recall
  against an exact float64 search on the first 2,000 queries.
Prints one Markdown table row per system and part.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tsne_native
from conftest import MNIST, THREADS
from tsne_native.tsne import initialization

K_RECALL = 15


def load_mnist(n_train, n_test):
    with np.load(MNIST) as archive:
        X, y = archive["X"].astype(np.float32) / 255.0, archive["y"]
    return X[:n_train], y[:n_train], X[60_000:60_000 + n_test], y[60_000:60_000 + n_test]


def exact_kl(P, Y, block=2048):
    """KL(P || Q) with Z summed over all pairs exactly (float64, blocks of rows)."""
    Y = np.asarray(Y, dtype=np.float64)
    norms = np.einsum("ij,ij->i", Y, Y)
    Z = 0.0
    for start in range(0, len(Y), block):
        rows = slice(start, start + block)
        squared = np.maximum(norms[rows, None] + norms[None, :] - 2 * Y[rows] @ Y.T, 0)
        Z += float((1.0 / (1.0 + squared)).sum())
    Z -= len(Y)
    P = P.tocoo()
    squared = ((Y[P.row] - Y[P.col]) ** 2).sum(1)
    positive = P.data > 0
    return float(np.sum(P.data[positive] * (np.log(P.data[positive]) + np.log1p(
        squared[positive]))) + np.log(Z))


def knn(points, queries, k, exclude_self=False):
    """Indices of the k nearest points to each query (float32 GEMM, blocks)."""
    points = np.asarray(points, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    norms = np.einsum("ij,ij->i", points, points)
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 1024):
        keys = norms[None, :] - 2 * queries[start:start + 1024] @ points.T
        if exclude_self:
            keys[np.arange(len(keys)), np.arange(start, start + len(keys))] = np.inf
        part = np.argpartition(keys, k, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(keys, part, axis=1), axis=1)
        out[start:start + 1024] = np.take_along_axis(part, order, axis=1)
    return out


def recall(true, found):
    return float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(true, found)]))


def quality(X_train, y_train, X_test, y_test, train_map, test_map):
    """Train recall@15, test 10-NN accuracy, transform recall@15."""
    train_recall = recall(knn(X_train, X_train, K_RECALL, True),
                          knn(train_map, train_map, K_RECALL, True))
    return (train_recall,) + placement_quality(X_train, y_train, X_test, y_test, train_map,
                                               test_map)


def placement_quality(X_train, y_train, X_test, y_test, train_map, test_map):
    """Test 10-NN accuracy on the map, transform recall@15."""
    votes = y_train[knn(train_map, test_map, 10)]
    accuracy = float(np.mean([np.bincount(row).argmax() == label
                              for row, label in zip(votes, y_test)]))
    transform_recall = recall(knn(X_train, X_test, K_RECALL), knn(train_map, test_map, K_RECALL))
    return accuracy, transform_recall


def optimization_part(X, P):
    import openTSNE

    start = initialization.pca(X, 2, np.random.default_rng(0))
    rows = []
    ours = tsne_native.TSNE(initialization=start, n_jobs=THREADS, random_state=0)
    ours.fit(X, affinities=P)
    rows.append(("tsne_native", ours.fit_seconds_["optimization"], exact_kl(P, ours.embedding_)))
    began = time.perf_counter()
    theirs = openTSNE.TSNE(n_jobs=THREADS, random_state=0).fit(
        affinities=openTSNE.affinity.PrecomputedAffinities(P), initialization=start.copy())
    rows.append(("openTSNE", time.perf_counter() - began, exact_kl(P, np.asarray(theirs))))
    print("\n| optimization, same P and start | seconds | exact KL |\n|---|---|---|")
    for name, seconds, kl in rows:
        print(f"| {name} | {seconds:.1f} | {kl:.4f} |")


def fit_part(X_train, y_train, X_test, y_test, systems):
    import openTSNE

    print("\n| whole fit | fit s | train recall@15 | test 10-NN acc | transform recall@15 "
          "| transform points/s |\n|---|---|---|---|---|---|")
    for name, fit, transform in (
            ("tsne_native", lambda: tsne_native.TSNE(n_jobs=THREADS, random_state=0).fit(X_train),
             lambda model: model.transform(X_test)),
            ("openTSNE", lambda: openTSNE.TSNE(n_jobs=THREADS, random_state=0).fit(X_train),
             lambda model: np.asarray(model.transform(X_test)))):
        if name not in systems:
            continue
        began = time.perf_counter()
        model = fit()
        fit_seconds = time.perf_counter() - began
        began = time.perf_counter()
        test_map = transform(model)
        throughput = len(X_test) / (time.perf_counter() - began)
        train_map = np.asarray(getattr(model, "embedding_", model))
        scores = quality(X_train, y_train, X_test, y_test, train_map, test_map)
        print(f"| {name} | {fit_seconds:.1f} | {scores[0]:.3f} | {scores[1]:.4f} | "
              f"{scores[2]:.3f} | {throughput:,.0f} |", flush=True)


def sklearn_part(X_train):
    from sklearn.manifold import TSNE

    subset = X_train[:10_000]
    for name, fit in (("tsne_native", lambda: tsne_native.TSNE(n_jobs=THREADS).fit(subset)),
                      ("scikit-learn", lambda: TSNE(n_jobs=THREADS).fit(subset))):
        began = time.perf_counter()
        fit()
        print(f"| {name}, first 10,000 | {time.perf_counter() - began:.1f} s |", flush=True)


def query_part(X_train, X_test):
    from tsne_native.tsne._placement import neighbor_index

    began = time.perf_counter()
    index = neighbor_index(X_train, "euclidean", THREADS)
    built = time.perf_counter() - began
    began = time.perf_counter()
    found, _ = index.search(X_test, THREADS)
    seconds = time.perf_counter() - began
    queries = X_test[:2000].astype(np.float64)
    keys = (np.einsum("ij,ij->i", X_train.astype(np.float64), X_train.astype(np.float64))[None]
            - 2 * queries @ X_train.T.astype(np.float64))
    exact = np.argsort(keys, axis=1)[:, :K_RECALL]
    print(f"| QueryIndex over {len(X_train):,} rows, {index.probes} probes | build {built:.2f} s "
          f"| {len(X_test):,} queries {seconds:.2f} s | recall@15 "
          f"{recall(exact, found[:2000]):.4f} |", flush=True)


def transform_steps_part(X_train, y_train, X_test, y_test, steps):
    from tsne_native.tsne import _placement

    model = tsne_native.TSNE(n_jobs=THREADS, random_state=0).fit(X_train)
    print("\n| placement steps | test 10-NN acc | transform recall@15 | transform points/s |"
          "\n|---|---|---|---|")
    default = _placement.TRANSFORM["n_iter"]
    try:
        for n_iter in steps:
            _placement.TRANSFORM["n_iter"] = n_iter
            began = time.perf_counter()
            test_map = model.transform(X_test)
            throughput = len(X_test) / (time.perf_counter() - began)
            accuracy, transform_recall = placement_quality(X_train, y_train, X_test, y_test,
                                                           model.embedding_, test_map)
            print(f"| {n_iter} | {accuracy:.4f} | {transform_recall:.3f} | {throughput:,.0f} |",
                  flush=True)
    finally:
        _placement.TRANSFORM["n_iter"] = default


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["optimization", "fit", "sklearn"],
                        choices=["optimization", "fit", "sklearn", "query", "transform_steps"])
    parser.add_argument("--steps", nargs="+", type=int, default=[250, 100, 50],
                        help="for --parts transform_steps")
    parser.add_argument("--systems", nargs="+", default=["tsne_native", "openTSNE"],
                        choices=["tsne_native", "openTSNE"], help="for --parts fit")
    parser.add_argument("--train", type=int, default=60_000)
    parser.add_argument("--test", type=int, default=10_000)
    args = parser.parse_args()
    X_train, y_train, X_test, y_test = load_mnist(args.train, args.test)
    if "optimization" in args.parts:
        optimization_part(X_train, tsne_native.affinities(X_train, 30, n_jobs=THREADS))
    if "fit" in args.parts:
        fit_part(X_train, y_train, X_test, y_test, args.systems)
    if "sklearn" in args.parts:
        sklearn_part(X_train)
    if "query" in args.parts:
        query_part(X_train, X_test)
    if "transform_steps" in args.parts:
        transform_steps_part(X_train, y_train, X_test, y_test, args.steps)


if __name__ == "__main__":
    main()
