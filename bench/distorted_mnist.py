"""A million realistic rows, generated: MNIST digits under random distortions, PCA to 50.

    python bench/distorted_mnist.py [--rows N] [--seed S]

Row i distorts training digit i mod 60,000 of ../shared/data/mnist70k.npz by a
random rotation, scaling and shift and a smooth elastic displacement, then the
images are projected onto the 50 leading principal axes of the first
``PCA_FIT_ROWS`` generated images.  Each batch of rows has its own seed, so the
set is the same on every machine and for every batch size.  The result (X:
float32 (N, 50), y: uint8 labels) is cached as two ``.npy`` files under
$TSNE_BENCH_CACHE (default ~/.cache/tsne-native-bench), outside the repository;
this script prints their paths, building them first when they are missing.
Another --seed gives another set of the same kind (new rows for ``transform``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from conftest import MNIST

ROWS = 1_000_000
COMPONENTS = 50
TRAIN_ROWS = 60_000
SIDE = 28
BATCH_ROWS = 10_000
PCA_FIT_ROWS = 50_000
# Distortions of the size that leave a digit readable (Simard et al. 2003 use
# elastic fields of about this reach): degrees, relative scale, pixels.
MAX_ROTATION_DEGREES = 12.0
MAX_SCALE_CHANGE = 0.1
MAX_SHIFT_PIXELS = 2.0
ELASTIC_PIXELS = 1.5
# The elastic field is a random mix of the lowest sine modes of the square.
ELASTIC_MODES = 3


def cache_paths(rows, seed):
    """Paths of the cached (X, y) ``.npy`` files of the set with ``rows`` rows and ``seed``."""
    folder = Path(os.environ.get("TSNE_BENCH_CACHE", Path.home() / ".cache" / "tsne-native-bench"))
    stem = f"distorted_mnist_{rows}x{COMPONENTS}_seed{seed}"
    return folder / f"{stem}_X.npy", folder / f"{stem}_y.npy"


def load(rows=ROWS, seed=0):
    """The generated set, built and cached on first use.

    Returns
    -------
    X : ndarray of shape (rows, 50), dtype float32, memory-mapped read-only
    y : ndarray of shape (rows,), dtype uint8
    """
    x_path, y_path = cache_paths(rows, seed)
    if not x_path.exists():
        build(rows, seed, x_path, y_path)
    return np.load(x_path, mmap_mode="r"), np.load(y_path)


def build(rows, seed, x_path, y_path):
    """Generate the set and write it to ``x_path`` and ``y_path`` (atomically)."""
    with np.load(MNIST) as archive:
        images = archive["X"][:TRAIN_ROWS].reshape(-1, SIDE, SIDE).astype(np.float32) / 255
        labels = archive["y"][:TRAIN_ROWS]
    sources = np.arange(rows) % TRAIN_ROWS
    axes, center = principal_axes(distorted(images, sources[:PCA_FIT_ROWS], seed))
    x_path.parent.mkdir(parents=True, exist_ok=True)
    partial = x_path.with_suffix(".partial.npy")
    X = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32,
                                  shape=(rows, COMPONENTS))
    started = time.perf_counter()
    for start in range(0, rows, BATCH_ROWS):
        batch = slice(start, min(rows, start + BATCH_ROWS))
        X[batch] = (distorted(images, sources[batch], seed, first_row=start) - center) @ axes
        done = batch.stop
        left = (time.perf_counter() - started) * (rows - done) / done
        print(f"\rgenerated {done:,}/{rows:,} rows, about {left:.0f} s left", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    X.flush()
    del X
    np.save(y_path, labels[sources])
    partial.replace(x_path)


def distorted(images, sources, seed, first_row=0):
    """Distorted copies of ``images[sources]``, rows ``first_row`` on of the set.

    Row ``i`` of the set is always distorted by the generator seeded
    ``(seed, i // BATCH_ROWS)``, whichever slice is asked for, as long as
    ``first_row`` is a multiple of BATCH_ROWS.

    Returns
    -------
    ndarray of shape (len(sources), 784), dtype float32
    """
    out = np.empty((len(sources), SIDE * SIDE), dtype=np.float32)
    for start in range(0, len(sources), BATCH_ROWS):
        rows = slice(start, start + BATCH_ROWS)
        rng = np.random.default_rng([seed, (first_row + start) // BATCH_ROWS])
        out[rows] = _distort(images[sources[rows]], rng).reshape(-1, SIDE * SIDE)
    return out


def _distort(batch, rng):
    """One random affine map and elastic field per image, bilinear resampling.

    ``batch``: float32 (b, 28, 28); returns the same shape.
    """
    b = len(batch)
    angles = np.deg2rad(rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES, b))
    scales = 1 + rng.uniform(-MAX_SCALE_CHANGE, MAX_SCALE_CHANGE, b)
    shifts = rng.uniform(-MAX_SHIFT_PIXELS, MAX_SHIFT_PIXELS, (b, 2))
    grid = np.arange(SIDE, dtype=np.float32) - (SIDE - 1) / 2
    row_grid, column_grid = np.meshgrid(grid, grid, indexing="ij")
    cos, sin = (np.cos(angles) / scales)[:, None, None], (np.sin(angles) / scales)[:, None, None]
    rows = cos * row_grid - sin * column_grid + shifts[:, :1, None] + (SIDE - 1) / 2
    columns = sin * row_grid + cos * column_grid + shifts[:, 1:, None] + (SIDE - 1) / 2
    field = _elastic_field(b, rng)
    coordinates = np.stack([np.broadcast_to(np.arange(b, dtype=np.float32)[:, None, None],
                                            rows.shape),
                            rows + field[..., 0], columns + field[..., 1]])
    return ndimage.map_coordinates(batch, coordinates, order=1, mode="constant", cval=0.0)


def _elastic_field(b, rng):
    """Smooth displacements (b, 28, 28, 2) in pixels: random mixes of low sine modes."""
    positions = (np.arange(SIDE) + 0.5) / SIDE
    modes = np.stack([np.outer(np.sin(np.pi * p * positions), np.sin(np.pi * q * positions))
                      for p in range(1, ELASTIC_MODES + 1)
                      for q in range(1, ELASTIC_MODES + 1)]).astype(np.float32)
    weights = rng.normal(scale=ELASTIC_PIXELS / ELASTIC_MODES, size=(b, len(modes), 2))
    return np.einsum("bmc,mhw->bhwc", weights.astype(np.float32), modes)


def principal_axes(sample):
    """The COMPONENTS leading principal axes (784, 50) and the mean (784,) of ``sample``."""
    center = sample.mean(axis=0, dtype=np.float64)
    centered = sample - center
    covariance = centered.T.astype(np.float64) @ centered / len(sample)
    _, vectors = np.linalg.eigh(covariance)
    return vectors[:, ::-1][:, :COMPONENTS].astype(np.float32), center.astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS, help="rows to generate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the distortions")
    args = parser.parse_args()
    X, _ = load(args.rows, args.seed)
    x_path, y_path = cache_paths(args.rows, args.seed)
    print(f"{X.shape[0]:,} x {X.shape[1]} float32: {x_path}\nlabels: {y_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
