"""Nearest-neighbour search on the native core."""

from __future__ import annotations

import numpy as np

from . import _core
from ._validation import check_choice, check_data, check_integer, check_memory, resolve_n_jobs

METRICS = ("euclidean", "cosine")
METHODS = ("auto", "exact", "approx")
# Memory beyond the data per point and neighbour: the n x k result (16 bytes)
# and, in the approximate search, n x 2k candidates with their distances (32).
BYTES_PER_NEIGHBOR = 48
# The approximate search ranks candidates in a PCA projection to this many
# dimensions ...
PROJECTED_DIMENSIONS = 64
# ... keeping this many candidates per requested neighbour for the exact re-ranking
CANDIDATES_PER_NEIGHBOR = 2
# ... from a projection fitted to at most this many rows.
PCA_SAMPLE_ROWS = 10_000
# A search is used once re-ranking its candidates finds this share of the true
# neighbours of RECALL_CHECK_ROWS sampled points; else it is made wider.
TARGET_RECALL = 0.99
RECALL_CHECK_ROWS = 500
# Candidates in the projection come from an inverted file once it has more
# than 2 * FIRST_PROBES clusters of about CLUSTER_ROWS rows each: every row
# searches the clusters of its FIRST_PROBES nearest centroids, or twice as
# many while the sample's recall is short of TARGET_RECALL.
CLUSTER_ROWS = 128
FIRST_PROBES = 64
# Centroids: Lloyd's k-means, this many iterations on this many sampled rows per cluster.
KMEANS_ITERATIONS = 5
KMEANS_ROWS_PER_CLUSTER = 32
# method="auto" searches approximately from this many rows on (and when the
# projection shrinks the data at least twofold); exactly below.
AUTO_APPROX_MIN_SAMPLES = 20_000


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
        ``"approx"``: ``2 k`` candidates per point from a PCA projection of
        the data to 64 dimensions, re-ranked by their exact distance in the
        full dimension (the returned distances are exact; a true neighbour can
        be missed, typically under 1%).  From 16,512 rows on, each point
        searches only the k-means clusters (of about 128 rows) of its 64
        nearest centroids in the projection; below, the whole projection.
        Each choice is first checked on 500 sampled points and widened (twice
        the clusters, then the whole projection, then twice its dimension)
        while they would lose more than 1% of their neighbours.  With 128
        features or fewer, or where only a projection wider than half the
        features would do, the search is exact.
        ``"auto"``: ``"approx"`` from 20,000 rows and 129 features on,
        ``"exact"`` otherwise.
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
    check_memory(BYTES_PER_NEIGHBOR * n_samples * k,
                 f"the neighbours of {n_samples:,} points, {k} each")
    return search(data, k, method, metric, threads, random_state,
                  owns_data=not shares_memory(data, X))


def search(data, k, method, metric, threads, random_state, *, owns_data):
    """Neighbours of validated data (the output of ``check_data``) by a checked method.

    ``owns_data`` says ``data`` is a private copy that may be modified in place.
    """
    if metric == "cosine":
        data = _tiny_rows_scaled_up(data, in_place=owns_data)
    if resolve_method(method, data.shape) == "approx":
        return approximate_search(data, k, metric, threads, random_state)
    return exact_search(data, k, metric, threads, owns_data=owns_data)


def resolve_method(method, shape):
    """The search ``method`` runs on data of ``shape``: "exact" or "approx"."""
    n_samples, n_features = shape
    shrinks = n_features > 2 * PROJECTED_DIMENSIONS
    if method == "approx" and shrinks:
        return "approx"
    if method == "auto" and shrinks and n_samples >= AUTO_APPROX_MIN_SAMPLES:
        return "approx"
    return "exact"


def exact_search(data, k, metric, threads, *, owns_data):
    """Exact neighbours of validated data (the output of ``check_data``).

    ``owns_data`` says ``data`` is a private copy that may be modified in place.
    """
    if metric == "euclidean":
        data = _centered_if_offset(data, in_place=owns_data)
    return _core.exact_knn(data, k, getattr(_core.Metric, metric), threads)


def approximate_search(data, k, metric, threads, random_state):
    """Candidates by a search in a PCA projection, re-ranked in the full dimension.

    Projected distances never exceed the true ones and differ from them only
    by the discarded components, which carry little of the spread of
    structured data (images, embeddings): the true neighbours are then almost
    always among the ``2 k`` nearest projections.  On large data those are
    sought only in the clusters of each point's nearest centroids
    (``_projected_candidates``).  A sample of points shows what each search
    would lose: the clusters probed double in number, and then the projection
    its dimension, until the sample's recall reaches ``TARGET_RECALL``; the
    search is exact when no projection at most half as wide as the data does.
    """
    n_samples, n_features = data.shape
    rng = np.random.default_rng(random_state)
    candidates = min(n_samples - 1, CANDIDATES_PER_NEIGHBOR * k)
    # Cosine neighbours are the Euclidean neighbours of the unit vectors.
    inverse_norms = 1.0 / _row_norms(data) if metric == "cosine" else None
    queries = np.sort(rng.choice(n_samples, min(n_samples, RECALL_CHECK_ROWS), replace=False))
    reach = _neighbor_reach(data, queries, k, inverse_norms)

    def good_enough(sampled):
        recall = _sampled_recall(data, queries, sampled, reach, k, inverse_norms)
        return recall >= TARGET_RECALL

    dimensions = PROJECTED_DIMENSIONS
    while 2 * dimensions < n_features:
        center, axes = _principal_axes(data, dimensions, inverse_norms, rng)
        projected = _project(data, center, axes, inverse_norms)
        candidate_indices = _projected_candidates(projected, candidates, queries, good_enough,
                                                  threads, rng)
        del projected
        if candidate_indices is not None:
            return _core.rerank_knn(data, candidate_indices, k, getattr(_core.Metric, metric),
                                    threads)
        dimensions *= 2
    return exact_search(data, k, metric, threads, owns_data=False)


def _projected_candidates(projected, count, queries, good_enough, threads, rng):
    """The ``count`` nearest rows of every row of the projection, if the sample allows.

    An inverted file (k-means clusters, each row searching those of its
    nearest centroids) when ``good_enough`` accepts the candidates it gives
    the sampled ``queries``, else the exact search of the whole projection
    if it accepts those, else None.

    Returns
    -------
    ndarray of shape (n_samples, count), dtype int64, each row in no particular order; or None
    """
    probes = FIRST_PROBES
    if 2 * probes < len(projected) // CLUSTER_ROWS:
        centroids = _kmeans(projected, len(projected) // CLUSTER_ROWS, rng)
        while 2 * probes < len(centroids):
            nearest = _nearest_centroids(projected, centroids, probes)
            if good_enough(_probed_search(projected, nearest, len(centroids), queries, count,
                                          threads)):
                return _probed_search(projected, nearest, len(centroids),
                                      np.arange(len(projected)), count, threads)
            probes *= 2
    if good_enough(_nearest_rows(projected, queries, count)):
        # Only the indices: their projected distances are not needed (and not kept).
        return exact_search(projected, count, "euclidean", threads, owns_data=False)[0]
    return None


def _probed_search(points, probes, n_clusters, queries, count, threads):
    """The ``count`` nearest rows to rows ``queries`` among the rows of their probed clusters.

    Parameters
    ----------
    points : ndarray of shape (n_samples, n_dimensions), dtype float32
    probes : ndarray of shape (n_samples, n_probes), dtype int64
        Cluster numbers below ``n_clusters``, each row's home cluster first.
    n_clusters : int
    queries : ndarray of shape (n_queries,), dtype int64
    count, threads : int

    Returns
    -------
    ndarray of shape (n_queries, count), dtype int64, each row in no particular order
    """
    candidates = _core.probed_knn(points, probes, n_clusters, queries, count, threads)
    # Queries whose clusters hold fewer than ``count`` others (heavy duplicates)
    # are padded with -1: they are searched in full.
    short = np.flatnonzero(candidates[:, -1] < 0)
    if short.size:
        candidates[short] = _nearest_rows(points, queries[short], count)
    return candidates


def _kmeans(points, n_clusters, rng):
    """Centroids of ``n_clusters`` k-means clusters of a sample of the rows.

    Lloyd's iterations from sampled rows; clusters that lose all their rows
    are dropped (duplicates make them).

    Returns
    -------
    ndarray of shape (at most n_clusters, n_dimensions), dtype float32
    """
    n_samples = len(points)
    rows = rng.choice(n_samples, min(n_samples, KMEANS_ROWS_PER_CLUSTER * n_clusters),
                      replace=False)
    sample = points[np.sort(rows)]
    centroids = sample[rng.choice(len(sample), n_clusters, replace=False)]
    for _ in range(KMEANS_ITERATIONS):
        labels = _nearest_centroids(sample, centroids, 1)[:, 0]
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=len(centroids))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[counts > 0]
        sums = np.add.reduceat(sample[order].astype(np.float64), starts, axis=0)
        centroids = (sums / counts[counts > 0, None]).astype(np.float32)
    return centroids


def _nearest_centroids(points, centroids, count):
    """The ``count`` nearest centroids of every row, nearest first.

    Returns
    -------
    ndarray of shape (n_samples, count), dtype int64
    """
    squared_norms = np.einsum("ij,ij->i", centroids, centroids)
    nearest = np.empty((len(points), count), dtype=np.int64)
    # Chunks of about 2**20 keys: larger ones leave the cache (5x slower in all).
    rows_per_chunk = max(1, (1 << 20) // len(centroids))
    for start in range(0, len(points), rows_per_chunk):
        rows = slice(start, start + rows_per_chunk)
        keys = squared_norms - 2 * (points[rows] @ centroids.T)  # ||x||^2 left out: same per row
        if count == 1:
            nearest[rows, 0] = np.argmin(keys, axis=1)
            continue
        closest = (np.argpartition(keys, count - 1, axis=1)[:, :count] if count < len(centroids)
                   else np.broadcast_to(np.arange(len(centroids)), keys.shape))
        ranks = np.argsort(np.take_along_axis(keys, closest, axis=1), axis=1, kind="stable")
        nearest[rows] = np.take_along_axis(closest, ranks, axis=1)
    return nearest


def _nearest_rows(points, queries, count, inverse_norms=None):
    """The ``count`` rows of ``points`` nearest to each row in ``queries`` (itself excluded).

    A chunked brute-force search for a small sample of queries.  Rows are
    scaled by ``inverse_norms`` when given.

    Returns
    -------
    ndarray of shape (len(queries), count), dtype int64, in no particular order
    """
    # Ranking only: float32 products suffice for float32 data.
    dtype = points.dtype
    query_points = _scaled(points[queries], queries, inverse_norms).astype(dtype)
    query_norms = np.einsum("ij,ij->i", query_points, query_points)
    best_ids = np.empty((len(queries), 0), dtype=np.int64)
    best_keys = np.empty((len(queries), 0), dtype=dtype)
    start = 0
    # Chunks of at most 4096 rows bound the (queries x rows) temporaries.
    for chunk in _row_chunks(points, values=min(1 << 22, 4096 * points.shape[1])):
        rows = np.arange(start, start + len(chunk))
        if inverse_norms is not None:
            chunk = (chunk * inverse_norms[rows, None]).astype(dtype)
        keys = np.einsum("ij,ij->i", chunk, chunk)[None, :] - 2.0 * (query_points @ chunk.T)
        keys[rows[None, :] == queries[:, None]] = np.inf
        keys = np.hstack([best_keys, keys + query_norms[:, None]])
        ids = np.hstack([best_ids, np.broadcast_to(rows, (len(queries), len(rows)))])
        keep = np.argpartition(keys, count - 1, axis=1)[:, :count]
        best_keys = np.take_along_axis(keys, keep, axis=1)
        best_ids = np.take_along_axis(ids, keep, axis=1)
        start = rows[-1] + 1
    return best_ids


def _neighbor_reach(data, queries, k, inverse_norms):
    """Exact distance from each query to its k-th nearest other row: (len(queries),) float64."""
    neighbors = _nearest_rows(data, queries, k, inverse_norms)
    return _exact_distances(data, queries, neighbors, inverse_norms).max(axis=1)


def _sampled_recall(data, queries, candidates, reach, k, inverse_norms):
    """Share of the queries' k nearest neighbours that re-ranking ``candidates`` would find.

    Tie-aware: a candidate counts when it is no farther than the k-th true
    neighbour, so duplicates and equal distances do not lower the recall.
    """
    distances = _exact_distances(data, queries, candidates, inverse_norms)
    within = distances <= reach[:, None] * (1 + 1e-9) + 1e-12
    return np.minimum(k, np.count_nonzero(within, axis=1)).sum() / (k * len(queries))


def _exact_distances(data, queries, others, inverse_norms):
    """Euclidean distances (float64) from rows ``queries`` to rows ``others``, all scaled.

    ``others`` is (len(queries), m); returns the (len(queries), m) distances.
    """
    distances = np.empty(others.shape)
    # Chunks of queries bound the gathered (queries x m x n_features) rows.
    step = max(1, (1 << 21) // (others.shape[1] * data.shape[1]))
    for start in range(0, len(queries), step):
        rows = slice(start, start + step)
        points = _scaled(data[queries[rows]], queries[rows], inverse_norms)
        gathered = others[rows]
        neighbors = _scaled(data[gathered.ravel()], gathered.ravel(), inverse_norms)
        differences = neighbors.reshape(*gathered.shape, -1) - points[:, None, :]
        distances[rows] = np.sqrt(np.einsum("ijk,ijk->ij", differences, differences))
    return distances


def _scaled(rows, row_numbers, inverse_norms):
    """``rows`` in float64, each divided by its norm when ``inverse_norms`` is given."""
    rows = rows.astype(np.float64)
    if inverse_norms is not None:
        rows *= inverse_norms[row_numbers, None]
    return rows


def _row_norms(data):
    """Euclidean norm of every row (float64); ValueError for an all-zero row."""
    norms = np.concatenate([np.sqrt(np.einsum("ij,ij->i", chunk, chunk, dtype=np.float64))
                            for chunk in _row_chunks(data)])
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"cosine distance is undefined for an all-zero row (row {zero[0]})")
    return norms


def _principal_axes(data, n_axes, inverse_norms, random_state):
    """Center and ``n_axes`` leading principal axes of the rows (scaled by ``inverse_norms``).

    Fitted by a randomized SVD (two power iterations) of at most
    ``PCA_SAMPLE_ROWS`` rows.

    Returns
    -------
    center : ndarray of shape (n_features,), dtype float64
    axes : ndarray of shape (n_features, n_axes), dtype float64, orthonormal columns
    """
    rng = np.random.default_rng(random_state)
    n_samples = data.shape[0]
    rows = (np.arange(n_samples) if n_samples <= PCA_SAMPLE_ROWS
            else np.sort(rng.choice(n_samples, PCA_SAMPLE_ROWS, replace=False)))
    sample = data[rows].astype(np.float64)
    if inverse_norms is not None:
        sample *= inverse_norms[rows, None]
    center = sample.mean(axis=0)
    sample -= center
    range_basis = sample.T @ (sample @ rng.standard_normal((sample.shape[1], n_axes + 16)))
    for _ in range(2):
        range_basis, _ = np.linalg.qr(range_basis)
        range_basis = sample.T @ (sample @ range_basis)
    range_basis, _ = np.linalg.qr(range_basis)
    # The leading right singular vectors of the sample within that range.
    _, _, rotation = np.linalg.svd(sample @ range_basis, full_matrices=False)
    return center, range_basis @ rotation[:n_axes].T


def _project(data, center, axes, inverse_norms):
    """Coordinates of the rows (scaled by ``inverse_norms``) along ``axes`` from ``center``.

    float32 keeps the precision of the ranking but not the range of every
    float64 input (squares of 1e20 overflow), so the coordinates are scaled
    by a power of two, which changes no bit of the ranking, to at most 1.

    Returns
    -------
    ndarray of shape (n_samples, n_axes), dtype float32
    """
    projected = np.empty((data.shape[0], axes.shape[1]))
    for rows, chunk in _projected_chunks(data, center, axes, inverse_norms):
        projected[rows] = chunk
    largest = max(float(projected.max()), -float(projected.min()))  # no |x| temporary
    exponent = np.frexp(largest)[1] if largest > 0 else 0
    return np.ldexp(projected, -exponent, out=projected).astype(np.float32)


def _projected_chunks(data, center, axes, inverse_norms):
    """Yield ``(rows, coordinates)``: slices of rows and their float64 projection.

    Centered in float64 chunk by chunk, so data far from the origin keeps its
    fine differences.
    """
    start = 0
    for chunk in _row_chunks(data):
        rows = slice(start, start + len(chunk))
        chunk = chunk.astype(np.float64)
        if inverse_norms is not None:
            chunk *= inverse_norms[rows, None]
        chunk -= center
        yield rows, chunk @ axes
        start = rows.stop


def _tiny_rows_scaled_up(data, *, in_place):
    """``data`` with every row too small for products of its values scaled up by a power of two.

    Cosine distances do not depend on a row's length, but their computation
    multiplies values: those of a row like ``[1e-170, 0]`` underflow to zero
    and the row would pass for all-zero.  A power of two changes no bit of
    the row's direction.  Returns ``data`` itself when no row is that small.
    """
    # Products of two values at least this large stay normal numbers.
    smallest_safe = 2.0 ** (np.finfo(data.dtype).minexp // 2 + 8)
    largest = np.concatenate([np.abs(chunk).max(axis=1) for chunk in _row_chunks(data)])
    tiny = np.flatnonzero((largest > 0) & (largest < smallest_safe))
    if tiny.size == 0:
        return data
    scaled = data if in_place else data.copy()
    scaled[tiny] = np.ldexp(scaled[tiny], -np.frexp(largest[tiny])[1][:, None])
    return scaled


def _row_chunks(data, values=1 << 20):
    """Views of ``data`` of about ``values`` values each (bounded temporaries)."""
    rows_per_chunk = max(1, values // data.shape[1])
    return [data[i:i + rows_per_chunk] for i in range(0, data.shape[0], rows_per_chunk)]


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
    chunks = _row_chunks(data)
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
