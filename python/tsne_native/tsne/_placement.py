"""New points placed against a fitted map that stays fixed (openTSNE's ``transform`` recipe)."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from .._progress import Progress
from ..affinity import calibrate
from ..affinity.neighbors import query_neighbors
from ._optimizer import Objective, Phase, State, descend

# How new points are placed (openTSNE's transform): a small perplexity over
# their nearest training points, a start at the median of those, short
# optimization with gentle, clipped steps.
TRANSFORM = {"perplexity": 5.0, "n_iter": 250, "exaggeration": 1.5, "learning_rate": 0.1,
             "momentum": 0.8, "max_grad_norm": 0.25}


def place(data, training_data, embedding, repulsion, *, metric, dof, threads,
          progress: Progress):
    """The positions of new points on ``embedding``, which is not moved.

    Each new point gets its nearest training points, conditional
    probabilities over them at ``TRANSFORM["perplexity"]``, a start at their
    median position, and ``TRANSFORM["n_iter"]`` clipped steps that move only
    the new points.

    Parameters
    ----------
    data : ndarray of shape (n_new, n_features)
    training_data : ndarray of shape (n_samples, n_features)
    embedding : ndarray of shape (n_samples, n_components), dtype float64
    repulsion : FixedMapRepulsion
    metric : str
    dof : float
    threads : int
    progress : Progress

    Returns
    -------
    ndarray of shape (n_new, n_components), dtype float64
    """
    perplexity = min(TRANSFORM["perplexity"], len(embedding) - 1)
    k = min(len(embedding), max(1, int(3 * perplexity)))
    indices, distances = query_neighbors(training_data, data, k, metric)
    conditional, _ = calibrate(distances, perplexity, n_jobs=threads)
    P = scipy.sparse.csr_matrix((conditional.ravel(), indices.ravel().astype(np.int32),
                                 np.arange(0, conditional.size + 1, k)),
                                shape=(len(data), len(embedding)))
    start = np.median(embedding[indices], axis=1)
    objective = _PlacementObjective(P, dof, repulsion, threads, reference=embedding)
    phase = Phase("transform", TRANSFORM["n_iter"], TRANSFORM["exaggeration"],
                  TRANSFORM["learning_rate"], TRANSFORM["momentum"], TRANSFORM["max_grad_norm"])
    return descend(start, objective, phase, State.start(start), progress, center=False)


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
