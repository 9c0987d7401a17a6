"""Starting maps: PCA of the data or random, at the scale t-SNE starts from."""

from __future__ import annotations

import numpy as np

from ..affinity._approximate import principal_axes, projected_chunks

# Standard deviation of the first coordinate of a starting map (openTSNE's
# choice, after Kobak & Linderman 2021: small, so that early exaggeration
# acts on a compact map).
INITIAL_STD = 1e-4


def pca(X, n_components, rng):
    """The data's leading principal components, scaled to ``INITIAL_STD`` (n, m) float64.

    The axes are those the approximate neighbour search projects onto (a
    randomized SVD of sampled rows); each axis's sign is chosen so that its
    largest coordinate is positive, which makes the start reproducible
    across machines.
    """
    n_features = X.shape[1]
    center, axes = principal_axes(X, min(n_components, n_features), None, rng)
    if axes.shape[1] < n_components:  # fewer features than components
        axes = np.hstack([axes, rng.normal(size=(n_features, n_components - axes.shape[1]))])
    start = np.concatenate([coordinates for _, coordinates in
                            projected_chunks(X, center, axes, None)])
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
