"""Gradient descent of t-SNE: momentum and per-coordinate gains, one phase at a time.

The gradient (without the constant factor 4, as openTSNE: its learning rates
assume that scale) of KL(P || Q) is ``exaggeration * attraction - repulsion / Z``
(see ``csrc/gradient.hpp``); the native core computes the attraction along
P's edges and, through :mod:`._repulsion`, the repulsion of all pairs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import _core
from .._progress import Progress, time_left

# Gains (Jacobs, 1988, as in every t-SNE): up by this on a sign change of the
# step, down by this factor otherwise, never below the minimum.
GAIN_INCREASE = 0.2
GAIN_DECAY = 0.8
MIN_GAIN = 0.01
# KL(P || Q) is evaluated (and reported) every this many iterations.
KL_EVERY = 50


@dataclass
class Phase:
    """One stretch of iterations with fixed settings.

    Attributes
    ----------
    name : str
        How progress lines call it ("early exaggeration").
    n_iter : int
    exaggeration, learning_rate, momentum : float
    max_grad_norm : float or None
        Each point's gradient is shortened to this norm at most.
    """

    name: str
    n_iter: int
    exaggeration: float
    learning_rate: float
    momentum: float
    max_grad_norm: float | None = None


@dataclass
class State:
    """What gradient descent carries from one phase to the next.

    Attributes
    ----------
    update, gains : ndarray of shape (n, d), dtype float64
    kl_history : list of (iteration, KL) pairs
    iterations : int
        Done so far, over all phases.
    """

    update: np.ndarray
    gains: np.ndarray
    kl_history: list = field(default_factory=list)
    iterations: int = 0

    @classmethod
    def start(cls, y):
        return cls(np.zeros_like(y), np.ones_like(y))


class Objective:
    """Gradient (and, on request, KL) of the map ``y`` for the joint P.

    Parameters
    ----------
    P : scipy.sparse.csr_matrix of shape (n, n)
        Joint probabilities summing to 1.
    dof : float
    repulsion : callable
        ``repulsion(y) -> (repulsion (n, d), Z)``.
    threads : int
    reference : ndarray of shape (m, d), dtype float64, optional
        The map P's columns index, when it is not ``y`` itself (a fixed map
        that new points are placed against; P is then n x m).
    """

    def __init__(self, P, dof, repulsion, threads, reference=None):
        self.indptr = P.indptr.astype(np.int64)
        self.indices = P.indices.astype(np.int32)
        positive = P.data[P.data > 0].astype(np.float64)
        self.p_log_p = float(np.sum(positive * np.log(positive)))
        # Single precision halves the bytes the attraction streams through per
        # iteration; its rounding (6e-8 of each p) is far below the steps' noise.
        self.p = P.data.astype(np.float32)
        self.dof, self.repulsion, self.threads = dof, repulsion, threads
        # The core reads the map in float32: a fixed map is converted once.
        self.reference = None if reference is None else reference.astype(np.float32)

    def attraction(self, y, with_kl):
        """``(attraction (n, d), sum p log w)`` of ``y`` along P (the sum is 0 without KL)."""
        reference = y.astype(np.float32) if self.reference is None else self.reference
        return _core.attractive_forces(self.indptr, self.indices, self.p, y, reference,
                                       self.dof, with_kl, self.threads)

    def __call__(self, y, exaggeration, with_kl=False):
        """``(gradient (n, d), KL)`` at ``y``; KL (of the un-exaggerated P) or None."""
        attraction, p_log_w = self.attraction(y, with_kl)
        repulsion, Z = self.repulsion(y)
        kl = float(self.p_log_p - p_log_w + np.log(Z)) if with_kl else None
        return exaggeration * attraction - repulsion / Z, kl


def descend(y, objective, phase, state, progress: Progress, *, center=True):
    """Run one phase of gradient descent on ``y`` (n, d) float64, in place.

    ``center`` keeps the map's mean at the origin (not for new points placed
    against a fixed map).  KL is recorded every ``KL_EVERY`` iterations and
    reported with the time left.
    """
    started = time.perf_counter()
    for iteration in range(phase.n_iter):
        with_kl = (state.iterations + 1) % KL_EVERY == 0
        gradient, kl = objective(y, phase.exaggeration, with_kl)
        if phase.max_grad_norm is not None:
            norms = np.linalg.norm(gradient, axis=1, keepdims=True)
            gradient *= np.minimum(1.0, phase.max_grad_norm / np.maximum(norms, 1e-12))
        flipped = np.sign(state.update) != np.sign(gradient)
        state.gains = np.maximum(np.where(flipped, state.gains + GAIN_INCREASE,
                                          state.gains * GAIN_DECAY), MIN_GAIN)
        state.update = phase.momentum * state.update - phase.learning_rate * state.gains * gradient
        y += state.update
        if center:
            y -= y.mean(axis=0)
        state.iterations += 1
        if with_kl:
            state.kl_history.append((state.iterations, kl))
            progress.say(f"{phase.name}: iteration {iteration + 1}/{phase.n_iter}, KL {kl:.4f}"
                         f"{time_left(started, iteration + 1, phase.n_iter)}")
    return y
