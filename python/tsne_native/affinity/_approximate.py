"""Approximate neighbours: an inverted file in a PCA projection or the data itself, re-ranked.

Wide data is searched in a PCA projection; data with at most twice
``PROJECTED_DIMENSIONS`` features, which no projection shrinks twofold, in
its own coordinates.  The search widens itself (more probed clusters, then
a wider projection) until a sample of points shows it finds
``TARGET_RECALL`` of their true neighbours; :func:`approximate_search`
returns None when nothing short of the exact search would do, and the
caller searches exactly.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _core

# The approximate search ranks candidates in a PCA projection to this many
# dimensions ...
PROJECTED_DIMENSIONS = 64
# ... keeping this many candidates per requested neighbour for the exact re-ranking
CANDIDATES_PER_NEIGHBOR = 2
# ... from a projection fitted to at most this many rows.
PCA_SAMPLE_ROWS = 10_000
# Data searched in its own coordinates keeps this share of k more candidates
# where the probed search multiplies bfloat16 (own_coordinate_candidates): on
# 300,000 distorted MNIST digits the 90 nearest by rounded values held 0.997
# of the true 90, the 95 nearest all of them (bench/bfloat16_ranking.py).
BFLOAT16_EXTRA_CANDIDATES = 1 / 8
# A search is used once re-ranking its candidates finds this share of the true
# neighbours of RECALL_CHECK_ROWS sampled points (less the sample's standard
# error: RecallCheck); else it is made wider.
TARGET_RECALL = 0.99
RECALL_CHECK_ROWS = 500
# Candidates in the projection come from an inverted file once it has more
# than 2 * FIRST_PROBES clusters of about CLUSTER_ROWS rows each: every row
# searches the clusters of its nearest centroids, at first as many as hold
# TARGET_RECALL of the sample's true neighbours (RecallCheck.probes_needed),
# then PROBE_GROWTH times as many, again and again, while the sample's recall
# is short of it.  (Doubling overshot: on a million distorted MNIST digits 128
# probes found 0.987 and 256 paid a third more than the 192 that find 0.994.)
# The query index (._query) starts from a share of FIRST_PROBES.
CLUSTER_ROWS = 128
FIRST_PROBES = 64
PROBE_GROWTH = 1.25
# On more than (CLUSTER_ROWS * ROWS_PER_ROOT) ** 2 rows, clusters hold
# sqrt(n_samples) / ROWS_PER_ROOT rows, and fewer of them are probed first
# (as many rows in all): finding every row's nearest centroids costs
# n_samples ** 2 / cluster rows, which fixed-size clusters let grow
# quadratically, while the probed search costs about the rows probed,
# whatever their clusters (see inverted_file_shape).
ROWS_PER_ROOT = 4
# Centroids: Lloyd's k-means, this many iterations on this many sampled rows per cluster.
KMEANS_ITERATIONS = 5
KMEANS_ROWS_PER_CLUSTER = 32


def settings_in_words():
    """The settings above as the words and numbers a docstring quotes."""
    return {"candidates": CANDIDATES_PER_NEIGHBOR, "dimensions": PROJECTED_DIMENSIONS,
            "loss": f"{1 - TARGET_RECALL:.0%}", "cluster_rows": CLUSTER_ROWS,
            "root_rows": f"{(CLUSTER_ROWS * ROWS_PER_ROOT) ** 2:,}",
            "per_root": ROWS_PER_ROOT,
            "growth": f"{PROBE_GROWTH:g}",
            "bf16_extra": f"{BFLOAT16_EXTRA_CANDIDATES:.1%}",
            "check_rows": RECALL_CHECK_ROWS,
            # An inverted file needs more than 2 * FIRST_PROBES clusters.
            "inverted_rows": f"{(2 * FIRST_PROBES + 1) * CLUSTER_ROWS:,}"}


def inverted_file_shape(n_rows):
    """Rows per cluster and clusters probed first, ``(int, int)``, of an inverted file.

    ``CLUSTER_ROWS`` and ``FIRST_PROBES``; on more than ``(CLUSTER_ROWS *
    ROWS_PER_ROOT) ** 2`` rows, clusters of ``sqrt(n_rows) / ROWS_PER_ROOT``
    rows, of which as many fewer are probed first.
    """
    cluster_rows = max(CLUSTER_ROWS, math.isqrt(n_rows) // ROWS_PER_ROOT)
    return cluster_rows, max(1, FIRST_PROBES * CLUSTER_ROWS // cluster_rows)


def inverted_file_fits(n_rows):
    """Whether ``n_rows`` make more than twice the first probes in clusters, as the file needs."""
    cluster_rows, first_probes = inverted_file_shape(n_rows)
    return n_rows // cluster_rows > 2 * first_probes


def approximate_search(data, k, metric, threads, random_state):
    """Candidates by a search in a PCA projection or an inverted file, re-ranked exactly.

    Projected distances never exceed the true ones and differ from them only
    by the discarded components, which carry little of the spread of
    structured data (images, embeddings): the true neighbours are then almost
    always among the ``2 k`` nearest projections.  On large data those are
    sought only in the clusters of each point's nearest centroids
    (``_projected_candidates``).  A sample of points shows what each search
    would lose: the clusters probed grow in number, and then the projection
    its dimension, until the sample's recall reaches ``TARGET_RECALL``.
    Data that no projection shrinks twofold is clustered in its own
    coordinates and searched there the same way (``project`` with no axes).

    Returns
    -------
    (indices, distances) as :func:`~tsne_native.nearest_neighbors` returns
    them, or None when only the exact search would do.
    """
    n_samples, n_features = data.shape
    narrow = n_features <= 2 * PROJECTED_DIMENSIONS
    if narrow and not inverted_file_fits(n_samples):
        return None
    rng = np.random.default_rng(random_state)
    # Cosine neighbours are the Euclidean neighbours of the unit vectors.
    inverse_norms = 1.0 / row_norms(data) if metric == "cosine" else None
    check = RecallCheck(data, k, inverse_norms, rng, threads)

    def reranked(candidate_indices):
        return _core.rerank_knn(data, candidate_indices, k, getattr(_core.Metric, metric),
                                threads)

    if narrow:
        points, _ = project(data, sample_center(data, inverse_norms, rng), None, inverse_norms)
        count = min(n_samples - 1, own_coordinate_candidates(k))
        candidate_indices = _inverted_file_candidates(points, count, check, threads, rng)
        return None if candidate_indices is None else reranked(candidate_indices)
    candidates = min(n_samples - 1, CANDIDATES_PER_NEIGHBOR * k)
    dimensions = PROJECTED_DIMENSIONS
    while 2 * dimensions < n_features:
        center, axes = principal_axes(data, dimensions, inverse_norms, rng)
        projected, _ = project(data, center, axes, inverse_norms)
        candidate_indices = _projected_candidates(projected, candidates, check, threads, rng)
        del projected
        if candidate_indices is not None:
            return reranked(candidate_indices)
        dimensions *= 2
    return None


def own_coordinate_candidates(k):
    """Candidates per row of a search of the data's own coordinates, for ``k`` neighbours.

    Ranked by their own float32 distances, ``k`` candidates are all re-ranking
    needs; where the probed search multiplies bfloat16 (``_core.native_bfloat16``),
    ranked by distances between values rounded to 8 significant bits, the
    k-th is sometimes misplaced: ``k`` plus ``BFLOAT16_EXTRA_CANDIDATES`` of it.
    """
    if not _core.native_bfloat16():
        return k
    return k + math.ceil(BFLOAT16_EXTRA_CANDIDATES * k)


def _projected_candidates(projected, count, check, threads, rng):
    """The ``count`` nearest rows of every row of the projection, if the sample allows.

    An inverted file (k-means clusters, each row searching those of its
    nearest centroids) when the :class:`RecallCheck` ``check`` passes the
    candidates it gives the sampled rows, else the exact search of the whole
    projection if it passes those, else None.

    Returns
    -------
    ndarray of shape (n_samples, count), dtype int64, each row in no particular order; or None
    """
    found = _inverted_file_candidates(projected, count, check, threads, rng)
    if found is not None:
        return found
    if check.passes(_nearest_rows(projected, check.queries, count, "euclidean", threads)):
        # Only the indices: their projected distances are not needed (and not kept).
        # The projection is centered, so the exact search needs no preconditioning.
        return _core.exact_knn(projected, count, _core.Metric.euclidean, threads)[0]
    return None


def _inverted_file_candidates(points, count, check, threads, rng):
    """The ``count`` nearest rows of every row among its probed clusters, if the sample allows.

    k-means clusters (:func:`inverted_file_shape`), each row searching those
    of its nearest centroids: as many as the first of :func:`probe_counts`
    for which the :class:`RecallCheck` ``check`` passes what its sampled rows
    get.  The counts start where the clusters alone would let the sample find
    the target share of its true neighbours (:meth:`RecallCheck.probes_needed`),
    which no search with fewer probes can beat and an exact ranking within
    them reaches; the sample alone tries each count.  Every row's nearest
    centroids are found once for that first count (its home cluster is the
    first of them), and again only if the sample needs more.

    Returns
    -------
    ndarray of shape (n_samples, count), dtype int64, each row in no particular order;
    or None when the data is too small for the inverted file or no number of probes does
    """
    if not inverted_file_fits(len(points)):
        return None
    cluster_rows, _ = inverted_file_shape(len(points))
    centroids = kmeans(points, len(points) // cluster_rows, rng, threads)
    n_clusters = len(centroids)
    most = (n_clusters - 1) // 2  # probe_counts stays under half the clusters
    if most < 1:  # duplicates left too few clusters
        return None
    sample_probes = _core.nearest_centroids(points[check.queries], centroids, most, threads)
    neighbor_homes = _core.nearest_centroids(points[check.neighbors.ravel()], centroids, 1,
                                             threads).reshape(check.neighbors.shape)
    fewest = check.probes_needed(neighbor_homes, sample_probes, n_clusters)
    if fewest is None:
        return None
    every_probe = _core.nearest_centroids(points, centroids, fewest, threads)
    homes = every_probe[:, 0]
    for probes in probe_counts(fewest, n_clusters):
        if check.passes(_probed_search(points, homes, n_clusters, check.queries,
                                       np.ascontiguousarray(sample_probes[:, :probes]), count,
                                       threads)):
            if probes > fewest:
                every_probe = _core.nearest_centroids(points, centroids, probes, threads)
            return _probed_search(points, homes, n_clusters, np.arange(len(points)),
                                  every_probe, count, threads)
    return None


def probe_counts(first, n_clusters):
    """The numbers of clusters to probe, in the order tried: a list of ints.

    ``first``, then ``PROBE_GROWTH`` times the last, while under half the clusters.
    """
    counts = []
    probes = first
    while 2 * probes < n_clusters:
        counts.append(probes)
        probes = max(probes + 1, round(probes * PROBE_GROWTH))
    return counts


def _probed_search(points, homes, n_clusters, queries, probes, count, threads):
    """The ``count`` nearest rows to rows ``queries`` among the rows of their probed clusters.

    Parameters
    ----------
    points : ndarray of shape (n_samples, n_dimensions), dtype float32
    homes : ndarray of shape (n_samples,), dtype int64
        Each row's cluster, below ``n_clusters``.
    n_clusters : int
    queries : ndarray of shape (n_queries,), dtype int64
    probes : ndarray of shape (n_queries, n_probes), dtype int64
        The clusters each query searches, its home first.
    count, threads : int

    Returns
    -------
    ndarray of shape (n_queries, count), dtype int64, each row in no particular order
    """
    candidates = _core.probed_knn(points, homes, n_clusters, queries, probes, count, threads)
    # Queries whose clusters hold fewer than ``count`` others (heavy duplicates)
    # are padded with -1: they are searched in full.
    short = np.flatnonzero(candidates[:, -1] < 0)
    if short.size:
        candidates[short] = _nearest_rows(points, queries[short], count, "euclidean", threads)
    return candidates


def kmeans(points, n_clusters, rng, threads):
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
        labels = _core.nearest_centroids(sample, centroids, 1, threads)[:, 0]
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=len(centroids))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[counts > 0]
        sums = np.add.reduceat(sample[order].astype(np.float64), starts, axis=0)
        centroids = (sums / counts[counts > 0, None]).astype(np.float32)
    return centroids


def _nearest_rows(points, queries, count, metric, threads):
    """The ``count`` rows of ``points`` nearest to each row in ``queries`` (itself excluded).

    The exact search of those rows alone (``metric``: "euclidean" or
    "cosine"), for a sample of rows or the few whose probed clusters hold too
    few rows.

    Returns
    -------
    ndarray of shape (len(queries), count), dtype int64, nearest first
    """
    return _core.exact_knn_of_rows(points, queries, count, getattr(_core.Metric, metric),
                                   threads)[0]


def neighbor_reach(data, queries, k, threads):
    """Exact Euclidean distance from each of rows ``queries`` to its k-th nearest other row.

    Returns
    -------
    ndarray of shape (len(queries),), dtype float64
    """
    return _core.exact_knn_of_rows(data, queries, k, _core.Metric.euclidean, threads)[1][:, -1]


class RecallCheck:
    """Whether a search finds ``TARGET_RECALL`` of the true neighbours of sampled rows.

    ``RECALL_CHECK_ROWS`` rows drawn by ``rng`` and their ``k`` nearest other
    rows by the exact search.  A share of the sampled rows' neighbours passes when
    its mean over the rows less its standard error reaches the target: a
    search whose recall is just at the target passes half the samples by
    their mean, but this bound only about one in six (on a million distorted
    digits the mean accepted searches that 200 other rows found 0.989 of).

    Parameters
    ----------
    data : ndarray of shape (n_samples, n_features)
    k : int
        Neighbours sought, ``1 <= k < n_samples``.
    inverse_norms : ndarray of shape (n_samples,), dtype float64, or None
        Rows are scaled by these (cosine) when given.
    rng : numpy.random.Generator
    threads : int

    Attributes
    ----------
    queries : ndarray of shape (n_queries,), dtype int64
        The sampled rows, in increasing order.
    neighbors : ndarray of shape (n_queries, k), dtype int64
        Their true neighbours, nearest first.
    reach : ndarray of shape (n_queries,), dtype float64
        Their distance to the k-th of them.
    """

    def __init__(self, data, k, inverse_norms, rng, threads):
        n_samples = len(data)
        self.queries = np.sort(rng.choice(n_samples, min(n_samples, RECALL_CHECK_ROWS),
                                          replace=False))
        # Nearest by cosine distance: nearest as the unit vectors are.
        metric = "euclidean" if inverse_norms is None else "cosine"
        self.neighbors = _nearest_rows(data, self.queries, k, metric, threads)
        self.reach = _exact_distances(data, self.queries, self.neighbors,
                                      inverse_norms).max(axis=1)
        self._data, self._k, self._inverse_norms = data, k, inverse_norms

    def passes(self, candidates):
        """Whether re-ranking ``candidates`` finds the target share of the neighbours.

        Tie-aware: a candidate counts when it is no farther than the k-th true
        neighbour, so duplicates and equal distances do not lower the recall.

        Parameters
        ----------
        candidates : ndarray of shape (n_queries, n_candidates), dtype int64
            Rows offered for each sampled row.
        """
        distances = _exact_distances(self._data, self.queries, candidates, self._inverse_norms)
        within = distances <= self.reach[:, None] * (1 + 1e-9) + 1e-12
        shares = np.minimum(self._k, np.count_nonzero(within, axis=1)) / self._k
        return _recall_bound(shares[:, None])[0] >= TARGET_RECALL

    def probes_needed(self, neighbor_homes, nearest, n_clusters):
        """The fewest probed clusters that hold the target share of the neighbours, or None.

        A search that probes a sampled row's p nearest clusters finds at most
        those of its neighbours that live there: the smallest p at which that
        share passes is a lower bound on the probes any search needs, and the
        probes an exact search within the clusters needs.

        Parameters
        ----------
        neighbor_homes : ndarray of shape (n_queries, k), dtype int64
            The cluster of each of ``neighbors``.
        nearest : ndarray of shape (n_queries, n_probes), dtype int64
            The sampled rows' nearest clusters, nearest first.
        n_clusters : int

        Returns
        -------
        int, at most n_probes; or None when all ``n_probes`` do not suffice
        """
        n_queries, n_probes = nearest.shape
        rank = np.full((n_queries, n_clusters), n_probes)
        np.put_along_axis(rank, nearest, np.arange(n_probes)[None, :], axis=1)
        # found[q, p]: neighbours of row q in its first p + 1 probed clusters.
        found = np.zeros((n_queries, n_probes + 1))
        np.add.at(found, (np.arange(n_queries)[:, None],
                          np.take_along_axis(rank, neighbor_homes, axis=1)), 1)
        bounds = _recall_bound(np.cumsum(found, axis=1)[:, :n_probes] / self._k)
        enough = np.flatnonzero(bounds >= TARGET_RECALL)
        return int(enough[0]) + 1 if enough.size else None


def _recall_bound(shares):
    """Mean less standard error of ``shares`` (n_queries, n) over the queries: (n,) float64."""
    if len(shares) < 2:
        return shares.mean(axis=0)
    return shares.mean(axis=0) - shares.std(axis=0, ddof=1) / np.sqrt(len(shares))


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


def row_norms(data):
    """Euclidean norm of every row (float64); ValueError for an all-zero row."""
    norms = np.concatenate([np.sqrt(np.einsum("ij,ij->i", chunk, chunk, dtype=np.float64))
                            for chunk in row_chunks(data)])
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"cosine distance is undefined for an all-zero row (row {zero[0]})")
    return norms


def principal_axes(data, n_axes, inverse_norms, random_state):
    """Center and ``n_axes`` leading principal axes of the rows (scaled by ``inverse_norms``).

    Fitted by a randomized SVD (two power iterations) of at most
    ``PCA_SAMPLE_ROWS`` rows.

    Returns
    -------
    center : ndarray of shape (n_features,), dtype float64
    axes : ndarray of shape (n_features, n_axes), dtype float64, orthonormal columns
    """
    rng = np.random.default_rng(random_state)
    sample = _sampled_rows(data, inverse_norms, rng)
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


def _sampled_rows(data, inverse_norms, rng):
    """At most ``PCA_SAMPLE_ROWS`` rows (all of small data), scaled, in float64."""
    n_samples = data.shape[0]
    rows = (np.arange(n_samples) if n_samples <= PCA_SAMPLE_ROWS
            else np.sort(rng.choice(n_samples, PCA_SAMPLE_ROWS, replace=False)))
    return _scaled(data[rows], rows, inverse_norms)


def sample_center(data, inverse_norms, rng):
    """Mean (float64, (n_features,)) of up to ``PCA_SAMPLE_ROWS`` rows scaled by ``inverse_norms``.

    Coordinates from it rank in float32 as well as from the exact mean.
    """
    return _sampled_rows(data, inverse_norms, rng).mean(axis=0)


def project(data, center, axes, inverse_norms, exponent=None):
    """Coordinates of the rows (scaled by ``inverse_norms``) along ``axes`` from ``center``.

    float32 keeps the precision of the ranking but not the range of every
    float64 input (squares of 1e20 overflow), so the coordinates are divided
    by ``2 ** exponent``, which changes no bit of the ranking; by default the
    power of two that brings them to at most 1.

    ``axes=None`` keeps every coordinate (the data's own axes).

    Returns
    -------
    projected : ndarray of shape (n_samples, n_axes), dtype float32
    exponent : int
    """
    if exponent is None:
        # A first pass finds the largest coordinate, so that no float64 copy
        # of every coordinate waits for it.
        largest = max(float(np.abs(chunk).max(initial=0.0))
                      for _, chunk in projected_chunks(data, center, axes, inverse_norms))
        exponent = int(np.frexp(largest)[1]) if largest > 0 else 0
    projected = np.empty((data.shape[0], data.shape[1] if axes is None else axes.shape[1]),
                         dtype=np.float32)
    for rows, chunk in projected_chunks(data, center, axes, inverse_norms):
        projected[rows] = np.ldexp(chunk, -exponent, out=chunk)
    return projected, exponent


def projected_chunks(data, center, axes, inverse_norms):
    """Yield ``(rows, coordinates)``: slices of rows and their float64 projection.

    Centered in float64 chunk by chunk, so data far from the origin keeps its
    fine differences.
    """
    start = 0
    for chunk in row_chunks(data):
        rows = slice(start, start + len(chunk))
        chunk = chunk.astype(np.float64)
        if inverse_norms is not None:
            chunk *= inverse_norms[rows, None]
        chunk -= center
        yield rows, chunk if axes is None else chunk @ axes
        start = rows.stop


def row_chunks(data, values=1 << 20):
    """Views of ``data`` of about ``values`` values each (bounded temporaries)."""
    rows_per_chunk = max(1, values // data.shape[1])
    return [data[i:i + rows_per_chunk] for i in range(0, data.shape[0], rows_per_chunk)]
