"""Starting maps: PCA of the data or random, at the scale t-SNE starts from."""

from __future__ import annotations

import numpy as np

# Standard deviation of the first coordinate of a starting map (openTSNE's
# choice, after Kobak & Linderman 2021: small, so that early exaggeration
# acts on a compact map).
INITIAL_STD = 1e-4
# Rows the PCA is fitted to at most.
PCA_SAMPLE_ROWS = 20_000


def pca(X, n_components, rng):
    """The data's leading principal components, scaled to ``INITIAL_STD`` (n, m) float64.

    Fitted on at most ``PCA_SAMPLE_ROWS`` sampled rows; each axis's sign is
    chosen so that its largest coordinate is positive, which makes the start
    reproducible across machines.
    """
    n = X.shape[0]
    rows = np.arange(n) if n <= PCA_SAMPLE_ROWS else np.sort(rng.choice(n, PCA_SAMPLE_ROWS,
                                                                         replace=False))
    sample = X[rows].astype(np.float64)
    center = sample.mean(axis=0)
    _, _, axes = np.linalg.svd(sample - center, full_matrices=False)
    axes = axes[:n_components]
    if axes.shape[0] < n_components:  # fewer features than components
        axes = np.vstack([axes, rng.normal(size=(n_components - axes.shape[0], X.shape[1]))])
    start = np.concatenate([(chunk.astype(np.float64) - center) @ axes.T
                            for chunk in np.array_split(X, max(1, n // 65536))])
    flip = np.sign(start[np.abs(start).argmax(axis=0), np.arange(n_components)])
    return rescaled(start * np.where(flip == 0, 1.0, flip))


def random(n, n_components, rng):
    """Gaussian points at ``INITIAL_STD``: (n, n_components) float64."""
    return rescaled(rng.normal(size=(n, n_components)))


def rescaled(start):
    """``start`` centered, with its first column's standard deviation ``INITIAL_STD``."""
    start = np.asarray(start, dtype=np.float64) - np.mean(start, axis=0)
    spread = float(np.std(start[:, 0]))
    return start * (INITIAL_STD / spread) if spread > 0 else start
