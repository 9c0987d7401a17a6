"""Perplexity-calibrated joint probabilities (the t-SNE input similarities P)."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from .. import _core
from .._progress import Progress
from .._validation import (
    check_choice,
    check_data,
    check_distances,
    check_integer,
    check_memory,
    check_neighbor_graph,
    check_perplexity,
    resolve_n_jobs,
)
from .neighbors import METHODS, METRICS, resolve_method, search, shares_memory

# Bisection stops when a row's entropy is this close to log(perplexity) (nats);
# scikit-learn uses 1e-5, openTSNE 1e-8.  The safeguarded Newton steps make the
# tighter tolerance cheap.
ENTROPY_TOLERANCE = 1e-8
MAX_ITERATIONS = 200
# Peak memory of affinities beyond the data, per point and neighbour, while
# symmetrizing: at most 48 (README, "Hardening"), with a margin (bench/million.py
# measures the peak).
AFFINITY_BYTES_PER_NEIGHBOR = 64


def calibrate(distances, perplexity, *, n_jobs=None):
    """Fit each point's Gaussian to the perplexity: conditional probabilities P(j|i).

    For row ``i`` with neighbour distances ``d_j`` this finds the precision
    ``beta_i`` such that ``p_j = exp(-beta_i d_j^2) / sum_l exp(-beta_i d_l^2)``
    has entropy ``log(perplexity)`` nats (to within 1e-8 nats).

    Parameters
    ----------
    distances : array_like of shape (n_samples, k)
        Non-negative, finite distances to each point's k neighbours (as
        returned by :func:`nearest_neighbors`; not squared).
    perplexity : float
        The effective number of neighbours, ``0 < perplexity <= k``.
    n_jobs : int or None
        Threads; ``None`` or ``-1`` uses every usable core, ``-2`` all but
        one; never more threads than cores.  The result does not depend on it.

    Returns
    -------
    conditional : ndarray of shape (n_samples, k), dtype float64
        P(j|i); every row sums to 1.
    sigmas : ndarray of shape (n_samples,), dtype float64
        Gaussian bandwidths ``1 / sqrt(2 beta_i)`` in distance units.  Where the
        perplexity cannot be reached because at least ``perplexity`` neighbours
        tie at the smallest distance (e.g. duplicates), the weights are uniform
        over those ties and sigma is 0 (this rule comes first); otherwise,
        where ``perplexity == k``, the weights are uniform and sigma is ``inf``.

    Raises
    ------
    ValueError
        For distances that are not 2-D, empty, negative or not finite, or a
        perplexity outside ``(0, k]``.
    """
    distances = check_distances(distances, name="distances")
    perplexity = check_perplexity(perplexity, largest=distances.shape[1],
                                  of=f"distances to {distances.shape[1]} neighbours per point")
    conditional, betas = _calibrate(distances, perplexity, resolve_n_jobs(n_jobs))
    with np.errstate(divide="ignore"):
        sigmas = 1.0 / np.sqrt(2.0 * betas)
    return conditional, sigmas


def _calibrate(distances, perplexity, threads):
    """calibrate() on checked arguments: (conditional, betas)."""
    return _core.calibrate(distances, perplexity, ENTROPY_TOLERANCE, MAX_ITERATIONS, threads)


def affinities(X=None, perplexity=30, *, n_neighbors=None, knn=None, method="auto",
               metric="euclidean", n_jobs=None, random_state=None, verbose=False):
    """The t-SNE joint probability matrix P of ``X``.

    Finds each point's nearest neighbours, calibrates a Gaussian per point to
    the perplexity (:func:`calibrate`) and symmetrizes:
    ``P_ij = (P(j|i) + P(i|j)) / 2n``.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features), optional
        The data (see :func:`nearest_neighbors` for accepted dtypes and
        layouts).  May be omitted when ``knn`` is given.
    perplexity : float, default 30
        The effective number of neighbours of each point, at most
        ``n_samples - 1`` (and at most ``n_neighbors``).
    n_neighbors : int, optional
        Neighbours per point; defaults to ``min(n_samples - 1, floor(3 * perplexity))``.
    knn : tuple (indices, distances), optional
        Precomputed neighbours, each of shape (n_samples, k), e.g. from
        :func:`nearest_neighbors`, an approximate index or a graph of your own;
        distances as in :func:`nearest_neighbors` (not squared).  With
        ``n_neighbors`` set, only the first ``n_neighbors`` columns are used.
    method : {"auto", "exact", "approx"}
        Neighbour search method (see :func:`nearest_neighbors`); ``"auto"``
        searches approximately on large data with many features.
    metric : {"euclidean", "cosine"}
    n_jobs : int or None
        Threads; ``None`` or ``-1`` uses every usable core, ``-2`` all but
        one; never more threads than cores.  The result does not depend on it.
    random_state : int, numpy.random.Generator or None
        Seed for randomized neighbour searches (the exact search uses none).
    verbose : bool
        Print each stage and its time to stderr.

    Returns
    -------
    P : scipy.sparse.csr_matrix of shape (n_samples, n_samples), dtype float64
        Symmetric, non-negative, zero diagonal, sums to 1, column indices
        sorted within each row.

    Raises
    ------
    ValueError
        For malformed data or neighbours, a perplexity that is not positive or
        too large for the data, ``n_neighbors`` outside its range, an unknown
        method or metric, or ``n_jobs=0``.
    KeyboardInterrupt
        When interrupted (Ctrl-C) during the native work.
    """
    check_choice(method, "method", METHODS)
    check_choice(metric, "metric", METRICS)
    threads = resolve_n_jobs(n_jobs)
    if X is None and knn is None:
        raise ValueError("affinities needs X or precomputed neighbours knn=(indices, distances)")
    data = None if X is None else check_data(X)
    if knn is not None:
        indices, distances = check_neighbor_graph(knn, None if data is None else len(data))
        n = len(indices)
    else:
        n = len(data)
    perplexity = check_perplexity(perplexity, largest=n - 1, of=f"{n:,} points")
    k = _neighbor_count(n_neighbors, perplexity, n, None if knn is None else indices.shape[1])
    check_perplexity(perplexity, n_neighbors=k)
    check_memory(AFFINITY_BYTES_PER_NEIGHBOR * n * k,
                 f"affinities of {n:,} points with {k} neighbours each")
    progress = Progress(verbose)
    if knn is None:
        searched = resolve_method(method, data.shape)
        with progress.stage("neighbours", f"nearest neighbours ({searched}, {metric}, k={k}, "
                                          f"n={n})"):
            indices, distances = search(data, k, searched, metric, threads, random_state,
                                        owns_data=not shares_memory(data, X))
        del data
    with progress.stage("calibration", f"calibration (perplexity {perplexity:g})"):
        conditional, _ = _calibrate(distances[:, :k], perplexity, threads)
    del distances
    with progress.stage("symmetrization", "symmetrization"):
        indptr, columns, values = _core.symmetrize(indices[:, :k], conditional, threads)
    P = scipy.sparse.csr_matrix((values, columns, indptr), shape=(n, n), copy=False)
    P.has_sorted_indices = True
    return P


def _neighbor_count(n_neighbors, perplexity, n_samples, available):
    """Neighbours per point: ``n_neighbors``, or by default 3 x perplexity (at most n - 1).

    ``available`` is the number of precomputed neighbours, if any: the default
    then takes them all, and ``n_neighbors`` may not exceed them.
    """
    largest = n_samples - 1 if available is None else available
    if n_neighbors is not None:
        return check_integer(n_neighbors, "n_neighbors", low=1, high=largest)
    if available is not None:
        return available
    return min(largest, max(1, int(3 * perplexity)))
