"""Nearest-neighbour search on the native core."""

from __future__ import annotations

import numpy as np

from . import _core
from ._validation import check_choice, check_data, check_integer, resolve_n_jobs

METRICS = ("euclidean", "cosine")
METHODS = ("exact",)


def nearest_neighbors(X, k, *, method="exact", metric="euclidean", n_jobs=None,
                      random_state=None):
    """Find the ``k`` nearest neighbours of every row of ``X`` among the other rows.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        Real-valued data: float32/float64, any integer or boolean dtype, any
        memory layout.  float64 data is searched in float64, everything else
        in float32.
    k : int
        Neighbours per point, ``1 <= k <= n_samples - 1``.
    method : {"exact"}
        ``"exact"``: blocked all-pairs search (GEMM-shaped distance blocks with
        a running top-k per row, final distances recomputed exactly).
    metric : {"euclidean", "cosine"}
        ``"cosine"`` compares directions only (word and document vectors);
        rows must not be all zero.
    n_jobs : int or None
        Threads; ``None`` uses every core, ``-1`` all cores, ``-2`` all but one.
        The result does not depend on it.
    random_state : int, numpy.random.Generator or None
        Unused by the exact method (deterministic); accepted so approximate
        methods can share the signature.

    Returns
    -------
    indices : ndarray of shape (n_samples, k), dtype int64
        Neighbour row numbers, nearest first (ties: smaller index first); a
        point is never its own neighbour.
    distances : ndarray of shape (n_samples, k), dtype float64
        Euclidean distances (not squared), or cosine distances ``1 - cos``,
        computed exactly in double precision.

    Raises
    ------
    ValueError
        For malformed data (not 2-D, fewer than 2 rows, no columns, NaN/inf,
        non-numeric dtype), ``k`` outside ``[1, n_samples - 1]``, an unknown
        method or metric, ``n_jobs=0``, or an all-zero row with the cosine metric.
    KeyboardInterrupt
        When interrupted (Ctrl-C); the search stops within about a second.
    """
    del random_state  # the exact method is deterministic
    data = check_data(X)
    k = check_integer(k, "k", low=1, high=data.shape[0] - 1)
    check_choice(method, "method", METHODS)
    check_choice(metric, "metric", METRICS)
    threads = resolve_n_jobs(n_jobs)
    return exact_search(data, k, metric, threads, owns_data=not shares_memory(data, X))


def exact_search(data, k, metric, threads, *, owns_data):
    """Exact neighbours of validated data (the output of ``check_data``).

    ``owns_data`` says ``data`` is a private copy that may be modified in place.
    """
    if metric == "euclidean":
        data = _centered_if_offset(data, in_place=owns_data)
    return _core.exact_knn(data, k, getattr(_core.Metric, metric), threads)


def shares_memory(data, X):
    """Whether the validated ``data`` may be a view of the caller's array ``X``."""
    return isinstance(X, np.ndarray) and np.may_share_memory(data, X)


# Center when the common offset's squared norm exceeds this multiple of the mean
# squared distance to the centroid: the GEMM keys |x|^2 + |y|^2 - 2 x.y then carry
# float rounding errors comparable to the distances themselves.
_OFFSET_TO_SPREAD_LIMIT = 16.0


def _centered_if_offset(data, *, in_place):
    """``data`` minus its centroid when a large common offset would spoil precision.

    Euclidean distances do not change under translation, but the squared norms
    in the GEMM-shaped keys do: data such as ``1e4 + noise`` would rank its
    neighbours by rounding error.  Centering is skipped when it cannot help,
    so ordinary data is searched as given.
    """
    rows_per_chunk = max(1, (1 << 20) // data.shape[1])
    chunks = [data[i:i + rows_per_chunk] for i in range(0, data.shape[0], rows_per_chunk)]
    centroid = sum(chunk.sum(axis=0, dtype=np.float64) for chunk in chunks) / data.shape[0]
    mean_square_norm = sum(np.einsum("ij,ij->", chunk, chunk, dtype=np.float64)
                           for chunk in chunks) / data.shape[0]
    offset = float(centroid @ centroid)
    spread = max(mean_square_norm - offset, 0.0)
    if offset <= _OFFSET_TO_SPREAD_LIMIT * spread:
        return data
    centered = data if in_place else np.empty_like(data)
    for start in range(0, data.shape[0], rows_per_chunk):
        rows = slice(start, start + rows_per_chunk)
        np.subtract(data[rows], centroid, out=centered[rows], casting="same_kind")
    return centered


def check_neighbor_graph(knn, n_samples=None):
    """Validate precomputed neighbours ``(indices, distances)``.

    Parameters
    ----------
    knn : tuple of two array_like of shape (n_samples, k)
        Integer neighbour indices and their non-negative, finite distances.
    n_samples : int or None
        The number of points the graph must describe, when known.

    Returns
    -------
    indices : ndarray of shape (n_samples, k), dtype int64
    distances : ndarray of shape (n_samples, k), dtype float64
    """
    if not isinstance(knn, (tuple, list)) or len(knn) != 2:
        raise TypeError("knn must be a pair (indices, distances) as returned by "
                        f"nearest_neighbors; got {type(knn).__name__}")
    indices, distances = (np.asarray(a) for a in knn)
    if indices.dtype.kind not in "iu":
        raise ValueError(f"knn indices must be integers; got dtype {indices.dtype}")
    if indices.ndim != 2 or indices.shape[1] < 1:
        raise ValueError(f"knn indices must be 2-D (n_samples, k); got shape {indices.shape}")
    if distances.shape != indices.shape:
        raise ValueError(f"knn distances have shape {distances.shape} but indices have "
                         f"shape {indices.shape}")
    distances = check_distances(distances, name="knn distances")
    n = indices.shape[0]
    if n_samples is not None and n != n_samples:
        raise ValueError(f"knn describes {n} points but X has {n_samples} rows")
    if n < 2:
        raise ValueError(f"knn needs at least 2 points; got {n}")
    if indices.min() < 0 or indices.max() >= n:
        raise ValueError(f"knn indices must lie in [0, {n - 1}]; got values from "
                         f"{indices.min()} to {indices.max()}")
    return np.ascontiguousarray(indices, dtype=np.int64), distances


def check_distances(distances, *, name):
    """Validate neighbour distances: 2-D, finite, non-negative.

    Returns
    -------
    ndarray of shape (n_samples, k), dtype float64, C-contiguous
    """
    distances = check_data(distances, name=name, min_rows=1)
    negative = distances < 0
    if negative.any():
        row = int(np.flatnonzero(negative.any(axis=1))[0])
        raise ValueError(f"{name} must be non-negative (row {row} is not)")
    return np.ascontiguousarray(distances, dtype=np.float64)
