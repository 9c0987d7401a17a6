"""The symmetrization alone on a million rows: ``_core.symmetrize`` timed twice.

    python bench/symmetrize_bench.py [--rows N] [--neighbors K]

Row i lists K distinct random neighbours spread over all rows (never i itself),
in random order as a search returns them, with random conditional
probabilities; the bench's threads.  Prints the seconds of each call.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from conftest import THREADS


def random_neighbors(n, k, rng):
    """(n, k) int64: offsets from each row are increasing sums of random gaps, so distinct."""
    gaps = rng.integers(1, (n - 1) // k + 1, size=(n, k))
    neighbors = (np.arange(n)[:, np.newaxis] + np.cumsum(gaps, axis=1)) % n
    return np.ascontiguousarray(neighbors[:, rng.permutation(k)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--neighbors", type=int, default=90)
    args = parser.parse_args()
    from tsne_native import _core

    rng = np.random.default_rng(0)
    neighbors = random_neighbors(args.rows, args.neighbors, rng)
    conditional = rng.random(neighbors.shape)
    conditional /= conditional.sum(axis=1, keepdims=True)
    for _ in range(2):
        started = time.perf_counter()
        _core.symmetrize(neighbors, conditional, THREADS)
        print(f"symmetrize {args.rows:,} x {args.neighbors}: "
              f"{time.perf_counter() - started:.2f} s", flush=True)


if __name__ == "__main__":
    main()
