"""New points placed against a fitted map that stays fixed (openTSNE's ``transform`` recipe)."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from .._progress import Progress
from ..affinity import calibrate
from ..affinity._query import QueryIndex
from ._optimizer import Objective, Phase, State, descend

# How new points are placed (openTSNE's transform): a small perplexity over
# their nearest training points, a start at the median of those, short
# optimization with gentle, clipped steps.  openTSNE takes 250 steps; from that
# start 50 keep MNIST's test accuracy and transform recall above openTSNE's
# (bench/RESULTS.md, --parts transform_steps).
TRANSFORM = {"perplexity": 5.0, "n_iter": 50, "exaggeration": 1.5, "learning_rate": 0.1,
             "momentum": 0.8, "max_grad_norm": 0.25}


def neighbor_index(training_data, metric, threads):
    """The search for new points' nearest training points that :func:`place` takes.

    Seeded with 0, so that a map saved and loaded places points as before.

    Parameters
    ----------
    training_data : ndarray of shape (n_samples, n_features)
    metric : str
    threads : int

    Returns
    -------
    QueryIndex
        For ``3 * TRANSFORM["perplexity"]`` neighbours (fewer on tiny maps).
    """
    k = min(len(training_data), max(1, int(3 * _perplexity(len(training_data)))))
    return QueryIndex(training_data, k, metric, threads, random_state=0)


def place(data, index, embedding, repulsion, *, dof, threads, progress: Progress):
    """The positions of new points on ``embedding``, which is not moved.

    Each new point gets its nearest training points, conditional
    probabilities over them at ``TRANSFORM["perplexity"]``, a start at their
    median position, and ``TRANSFORM["n_iter"]`` clipped steps that move only
    the new points.

    Parameters
    ----------
    data : ndarray of shape (n_new, n_features)
    index : QueryIndex
        Over the training data (:func:`neighbor_index`).
    embedding : ndarray of shape (n_samples, n_components), dtype float64
    repulsion : FixedMapRepulsion
    dof : float
    threads : int
    progress : Progress

    Returns
    -------
    ndarray of shape (n_new, n_components), dtype float64
    """
    indices, distances = index.search(data, threads)
    # New points are moved in the order of their start on a raster of the map:
    # neighbouring points then read neighbouring grid nodes from cache (the
    # interpolation took 1.2 ms per step for 10,000 MNIST digits in their own
    # order, 0.7 ms in this one).  Each point is placed independently of the others.
    start = np.median(embedding[indices], axis=1)
    order = _raster_order(start, embedding)
    indices, distances, start = indices[order], distances[order], start[order]
    k = indices.shape[1]
    conditional, _ = calibrate(distances, _perplexity(len(embedding)), n_jobs=threads)
    P = scipy.sparse.csr_matrix((conditional.ravel(), indices.ravel().astype(np.int32),
                                 np.arange(0, conditional.size + 1, k)),
                                shape=(len(data), len(embedding)))
    objective = _PlacementObjective(P, dof, repulsion, threads, reference=embedding)
    phase = Phase("transform", TRANSFORM["n_iter"], TRANSFORM["exaggeration"],
                  TRANSFORM["learning_rate"], TRANSFORM["momentum"], TRANSFORM["max_grad_norm"])
    placed = descend(start, objective, phase, State.start(start), progress, center=False)
    result = np.empty_like(placed)
    result[order] = placed
    return result


# The raster of the placement order: this many rows across the map's extent.
RASTER_ROWS = 64


def _raster_order(points, embedding):
    """Row numbers of ``points`` (n, d) sorted by raster cell of the map, row by row."""
    low, high = embedding.min(axis=0), embedding.max(axis=0)
    cells = np.floor((points - low) / np.maximum(high - low, 1e-12) * RASTER_ROWS)
    return np.lexsort(cells.T[::-1])


def _perplexity(n_samples):
    """``TRANSFORM["perplexity"]``, or less on maps of at most that many points."""
    return min(TRANSFORM["perplexity"], n_samples - 1)


class _PlacementObjective(Objective):
    """Gradient of each new point's own KL(P_i || Q_i) against a fixed map.

    Rows of P are the new points' conditional probabilities over training
    points; each point's Q is normalized over the map alone, so points are
    placed independently of one another.
    """

    def __call__(self, y, exaggeration, with_kl=False):
        attraction, p_log_w = self.attraction(y, with_kl)
        repulsion, z = self.repulsion(y)
        z = np.maximum(z, np.finfo(np.float64).tiny)
        kl = float(self.p_log_p - p_log_w + np.log(z).sum()) / len(y) if with_kl else None
        return exaggeration * attraction - repulsion / z[:, None], kl
