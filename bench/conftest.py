"""Shared data for the benchmarks: MNIST 70k when available, synthetic otherwise.

Set TSNE_BENCH_DATA to an .npz with X (and y) to use other data, and
TSNE_BENCH_N to use only the first N rows.
"""

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist70k.npz"
THREADS = 2  # every system runs on the same two threads


def load_benchmark_data():
    """(X, description): uint8 MNIST rows, or a synthetic mixture of the same kind."""
    path = Path(os.environ.get("TSNE_BENCH_DATA", MNIST))
    if path.exists():
        with np.load(path) as archive:
            X = archive["X"]
        description = f"{path.name} {X.shape[0]}x{X.shape[1]} {X.dtype}"
    else:
        rng = np.random.default_rng(0)
        centres = rng.uniform(0, 255, size=(10, 784))
        labels = rng.integers(0, 10, size=20_000)
        X = np.clip(centres[labels] + rng.normal(scale=60, size=(20_000, 784)), 0, 255)
        X = X.astype(np.uint8)
        description = "synthetic 20000x784 uint8 (MNIST not found)"
    n = int(os.environ.get("TSNE_BENCH_N", len(X)))
    return X[:n], description


@pytest.fixture(scope="session")
def bench_data():
    X, description = load_benchmark_data()
    print(f"\nbenchmark data: {description}, first {len(X)} rows")
    return X


@pytest.fixture(scope="module")
def float32_data(bench_data):
    """The benchmark data as float32 (what the peers take)."""
    return bench_data.astype(np.float32)


def once(benchmark, function, *args, **kwargs):
    """Time one call of ``function`` (the runs here are long: one round is enough)."""
    return benchmark.pedantic(function, args=args, kwargs=kwargs, rounds=1, iterations=1)
