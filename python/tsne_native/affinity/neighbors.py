"""Nearest-neighbour search: validate, precondition, choose the method, search exactly."""

from __future__ import annotations

from string import Template

import numpy as np

from .. import _core
from .._validation import check_choice, check_data, check_integer, check_memory, resolve_n_jobs
from . import _approximate
from ._approximate import PROJECTED_DIMENSIONS, approximate_search, row_chunks

METRICS = ("euclidean", "cosine")
METHODS = ("auto", "exact", "approx")
# Memory beyond the data per point and neighbour: the n x k result (16 bytes)
# and, in the approximate search, n x 2k candidates with their distances (32).
SEARCH_BYTES_PER_NEIGHBOR = 48
# method="auto" searches approximately from this many rows on when a
# projection shrinks the data at least twofold ...
AUTO_APPROX_MIN_SAMPLES = 20_000
# ... and from this many when the inverted file is in the data's own
# coordinates, exactly below: with fewer clusters, the first ones probed hold too
# large a share of the rows to beat the exact GEMM blocks.
AUTO_OWN_COORDINATES_MIN_SAMPLES = 100_000


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
    method : {"exact", "approx", "auto"}
        ``"exact"``: blocked all-pairs search (GEMM-shaped distance blocks with
        a running top-k per row, final distances recomputed exactly).
        ``"approx"``: ``${candidates} k`` candidates per point from a PCA projection of
        the data to ${dimensions} dimensions, re-ranked by their exact distance in the
        full dimension (the returned distances are exact; a true neighbour can
        be missed, typically under ${loss}).  From ${inverted_rows} rows on, each point
        searches only the k-means clusters (of about ${cluster_rows} rows) of its
        nearest centroids in the projection, at first as many as hold all but
        ${loss} of the sampled points' true neighbours; below, the whole
        projection.  On more than ${root_rows} rows clusters hold sqrt(n) /
        ${per_root} rows.
        Each choice is first checked on ${check_rows} sampled points and widened (${growth}
        times the clusters, then the whole projection, then twice its dimension)
        while they would lose more than ${loss} of their neighbours (by the sample's
        mean less its standard error).  Data with
        ${narrow} features or fewer, which no projection shrinks twofold, is
        clustered in its own coordinates: each point's ``k`` nearest rows in
        its probed clusters, checked and widened the same way.  On a CPU that
        multiplies bfloat16 natively (AVX512-BF16) the probed clusters are
        ranked with values rounded to bfloat16, and ``k`` plus ${bf16_extra} more
        candidates are re-ranked.  Where only a
        projection wider than half the features, or probes of half the
        clusters, would do, and on fewer than ${inverted_rows} rows of narrow data,
        the search is exact.
        ``"auto"``: ``"approx"`` from ${auto_rows} rows on when the data has ${wide}
        features or more, from ${auto_own_rows} rows on when fewer; ``"exact"``
        otherwise.
    metric : {"euclidean", "cosine"}
        ``"cosine"`` compares directions only (word and document vectors);
        rows must not be all zero.
    n_jobs : int or None
        Threads; ``None`` or ``-1`` uses every usable core, ``-2`` all but
        one; never more threads than cores.  The result does not depend on it.
    random_state : int, numpy.random.Generator or None
        Seeds the approximate method's samples (the rows its projection and
        clusters are fitted to, the points checked); the exact method is
        deterministic.

    Returns
    -------
    indices : ndarray of shape (n_samples, k), dtype int64
        Neighbour row numbers, nearest first (ties: smaller index first); a
        point is never its own neighbour.
    distances : ndarray of shape (n_samples, k), dtype float64
        Euclidean distances (not squared), or cosine distances ``1 - cos``,
        computed exactly in double precision from the data as searched
        (float32 data far from the origin is first centered, in float32).

    Raises
    ------
    ValueError
        For malformed data (not 2-D, fewer than 2 rows, no columns, NaN/inf,
        non-numeric dtype), ``k`` outside ``[1, n_samples - 1]``, an unknown
        method or metric, ``n_jobs=0``, or an all-zero row with the cosine metric.
    KeyboardInterrupt
        When interrupted (Ctrl-C); the search stops within about a second.
    """
    data = check_data(X)
    k = check_integer(k, "k", low=1, high=data.shape[0] - 1)
    check_choice(method, "method", METHODS)
    check_choice(metric, "metric", METRICS)
    threads = resolve_n_jobs(n_jobs)
    n_samples = data.shape[0]
    check_memory(SEARCH_BYTES_PER_NEIGHBOR * n_samples * k,
                 f"the neighbours of {n_samples:,} points, {k} each")
    return search(data, k, method, metric, threads, random_state,
                  owns_data=not shares_memory(data, X))



# The docstring quotes the search's settings from the constants that hold them.
nearest_neighbors.__doc__ = Template(nearest_neighbors.__doc__).substitute(
    **_approximate.settings_in_words(), auto_rows=f"{AUTO_APPROX_MIN_SAMPLES:,}",
    auto_own_rows=f"{AUTO_OWN_COORDINATES_MIN_SAMPLES:,}", narrow=2 * PROJECTED_DIMENSIONS,
    wide=2 * PROJECTED_DIMENSIONS + 1)

def search(data, k, method, metric, threads, random_state, *, owns_data):
    """Neighbours of validated data (the output of ``check_data``) by a checked method.

    ``owns_data`` says ``data`` is a private copy that may be modified in place.
    """
    if metric == "cosine":
        data = _tiny_rows_scaled_up(data, in_place=owns_data)
    else:
        data = _centered_if_offset(data, in_place=owns_data)
    if resolve_method(method, data.shape) == "approx":
        found = approximate_search(data, k, metric, threads, random_state)
        if found is not None:
            return found
    return _core.exact_knn(data, k, getattr(_core.Metric, metric), threads)


def resolve_method(method, shape):
    """The search ``method`` runs on data of ``shape``: "exact" or "approx"."""
    if method != "auto":
        return method
    n_samples, n_features = shape
    shrinks = n_features > 2 * PROJECTED_DIMENSIONS
    enough = AUTO_APPROX_MIN_SAMPLES if shrinks else AUTO_OWN_COORDINATES_MIN_SAMPLES
    return "approx" if n_samples >= enough else "exact"


def shares_memory(data, X):
    """Whether the validated ``data`` may be a view of the caller's array ``X``."""
    return isinstance(X, np.ndarray) and np.may_share_memory(data, X)


def _tiny_rows_scaled_up(data, *, in_place):
    """``data`` with every row too small for products of its values scaled up by a power of two.

    Cosine distances do not depend on a row's length, but their computation
    multiplies values: those of a row like ``[1e-170, 0]`` underflow to zero
    and the row would pass for all-zero.  A power of two changes no bit of
    the row's direction.  Returns ``data`` itself when no row is that small.
    """
    # Products of two values at least this large stay normal numbers.
    smallest_safe = 2.0 ** (np.finfo(data.dtype).minexp // 2 + 8)
    largest = np.concatenate([np.abs(chunk).max(axis=1) for chunk in row_chunks(data)])
    tiny = np.flatnonzero((largest > 0) & (largest < smallest_safe))
    if tiny.size == 0:
        return data
    scaled = data if in_place else data.copy()
    scaled[tiny] = np.ldexp(scaled[tiny], -np.frexp(largest[tiny])[1][:, None])
    return scaled


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
    chunks = row_chunks(data)
    centroid = sum(chunk.sum(axis=0, dtype=np.float64) for chunk in chunks) / data.shape[0]
    mean_square_norm = sum(np.einsum("ij,ij->", chunk, chunk, dtype=np.float64)
                           for chunk in chunks) / data.shape[0]
    offset = float(centroid @ centroid)
    spread = max(mean_square_norm - offset, 0.0)
    if offset <= _OFFSET_TO_SPREAD_LIMIT * spread:
        return data
    centered = data if in_place else np.empty_like(data)
    start = 0
    for chunk in chunks:
        np.subtract(chunk, centroid, out=centered[start:start + len(chunk)], casting="same_kind")
        start += len(chunk)
    return centered
