"""tsne_native.TSNE on a million rows (issue 18): the whole fit, in a fresh process.

    python bench/tsne_million.py [--rows N]

Fits ``TSNE`` with its defaults (approximate neighbours, FFT-interpolated
repulsion, PCA start, 250 + 500 iterations) on the generated 1,000,000 x 50
distorted MNIST digits of bench/distorted_mnist.py, on the bench's threads,
with progress on stderr.  Prints the fit's wall time (affinities included),
the process's peak RSS (VmHWM), the final KL divergence the optimizer reports,
and the map's leave-one-out 10-NN accuracy on the digit labels for 10,000
sampled points (their neighbours among all points of the map).
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

N, SEED = 1_000_000, 0
ACCURACY_ROWS, NEIGHBORS = 10_000, 10


def map_accuracy(embedding, labels, rng):
    """Leave-one-out 10-NN accuracy of ACCURACY_ROWS sampled points of the map."""
    from sklearn.neighbors import NearestNeighbors

    rows = rng.choice(len(embedding), min(ACCURACY_ROWS, len(embedding)), replace=False)
    index = NearestNeighbors(n_neighbors=NEIGHBORS + 1).fit(embedding)
    _, found = index.kneighbors(embedding[rows])
    votes = labels[found[:, 1:]]  # the point itself first
    predicted = np.array([np.bincount(row, minlength=10).argmax() for row in votes])
    return float(np.mean(predicted == labels[rows]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=N, help="fit the first N rows")
    args = parser.parse_args()
    import tsne_native

    X, y = distorted_mnist.load(N, SEED)
    X, y = np.array(X[:args.rows]), y[:args.rows]
    print(f"{len(X):,} x {X.shape[1]} float32 (bench/distorted_mnist.py), TSNE defaults, "
          f"{THREADS} threads", flush=True)
    model = tsne_native.TSNE(n_jobs=THREADS, random_state=SEED, verbose=True)
    started = time.perf_counter()
    embedding = model.fit_transform(X)
    seconds = time.perf_counter() - started
    print(f"fit: {seconds:.1f} s; peak RSS {memory_status_mb('VmHWM'):.0f} MB "
          f"(data {X.nbytes / 1e6:.0f} MB); KL {model.kl_divergence_:.4f}", flush=True)
    accuracy = map_accuracy(np.asarray(embedding), y, np.random.default_rng(SEED + 1))
    print(f"leave-one-out {NEIGHBORS}-NN accuracy of {ACCURACY_ROWS:,} sampled points: "
          f"{accuracy:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
