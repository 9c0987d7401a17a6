"""The nearest rows of fitted data to new points: an index built once, searched per batch.

New points placed on a fitted map need their nearest training rows.  The
index is the approximate search's (:mod:`._approximate`) turned outwards: a
projection of the data, an inverted file over it, exact re-ranking in the
full dimension, checked on sampled rows when it is built.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from ._approximate import (
    PROJECTED_DIMENSIONS,
    RecallCheck,
    inverted_file_fits,
    inverted_file_shape,
    kmeans,
    principal_axes,
    probe_counts,
    project,
    row_norms,
    sample_center,
)

# Candidates ranked in the projection per neighbour sought: twice the
# approximate search's, because a query seeks few neighbours (15 for
# transform), and the last of few is more often misranked by the projection
# (at 2 per neighbour, 64 dimensions missed the recall target on MNIST).
CANDIDATES_PER_NEIGHBOR = 4
# The index tries probing this share of the approximate search's first probes
# first, then more as probe_counts says: with 4 candidates per neighbour fewer
# clusters already reach the recall target (32 of 128 rows on MNIST), and
# every query pays for each cluster it probes.
QUERY_PROBES_SHARE = 1 / 4


class QueryIndex:
    """The ``k`` nearest rows of ``data`` to any new points, nearest first.

    Candidates are ranked in float32 in a PCA projection to
    ``PROJECTED_DIMENSIONS`` (for data more than twice as wide; else in the
    data itself, centered), ``CANDIDATES_PER_NEIGHBOR * k`` per query, and
    re-ranked by exact distances in the data.  Where the approximate search
    would use an inverted file, so does the index (its shape too): the rows of
    each query's ``probes`` nearest k-means centroids.  ``probes`` starts at
    ``QUERY_PROBES_SHARE`` of the search's first probes and grows until the candidates
    of ``RECALL_CHECK_ROWS`` sampled rows (as queries, themselves left out)
    hold ``TARGET_RECALL`` of their k nearest rows; where no inverted file
    does, every projected row is a candidate, and where the projection falls
    short, the data itself is searched.

    Parameters
    ----------
    data : ndarray of shape (n_samples, n_features), float32 or float64
        Validated data; kept by reference, not copied.
    k : int
        Neighbours per query, ``1 <= k <= n_samples``.
    metric : {"euclidean", "cosine"}
    threads : int
        For building the index (each search says its own).
    random_state : int or numpy.random.Generator
        Seeds the projection, the centroids and the sampled rows.

    Attributes
    ----------
    probes : int or None
        Clusters each query searches; None without an inverted file.

    Notes
    -----
    Beyond ``data`` it holds the projection: ``n_samples * min(n_features,
    PROJECTED_DIMENSIONS)`` float32 values.
    """

    def __init__(self, data, k, metric, threads, random_state):
        rng = np.random.default_rng(random_state)
        self.data, self.k, self.metric = data, k, metric
        self.count = min(len(data), CANDIDATES_PER_NEIGHBOR * k)
        inverse_norms = 1.0 / row_norms(data) if metric == "cosine" else None
        check = RecallCheck(data, min(k, len(data) - 1), inverse_norms, rng, threads)
        sample = check.queries
        n_features = data.shape[1]
        widths = ([n_features] if n_features <= 2 * PROJECTED_DIMENSIONS
                  else [PROJECTED_DIMENSIONS, n_features])
        for width in widths:
            self._fit_projection(width, inverse_norms, rng)
            self.centroids, self.homes, self.probes = self._inverted_file(check, threads, rng)
            if self.probes is not None or width == n_features or check.passes(self._without(
                    sample, self._nearest_projected(self._project(data[sample]), self.count + 1))):
                return

    def search(self, queries, threads):
        """The ``k`` nearest rows of the data to each query.

        Parameters
        ----------
        queries : ndarray of shape (n_queries, n_features)
        threads : int

        Returns
        -------
        indices : ndarray of shape (n_queries, k), dtype int64
        distances : ndarray of shape (n_queries, k), dtype float64
            As :func:`~tsne_native.nearest_neighbors` measures them.
        """
        projected = self._project(queries)
        if self.probes is None:
            order = np.arange(len(queries))
            candidates = self._nearest_projected(projected, self.count)
        else:
            probes = _core.nearest_centroids(projected, self.centroids, self.probes, threads)
            # Queries in the order of their nearest centroid: neighbouring
            # queries share candidates, which the re-ranking then reads from cache.
            order = np.argsort(probes[:, 0], kind="stable")
            candidates = self._probed(projected[order], probes[order], self.count, threads)
        ordered = np.ascontiguousarray(queries[order], dtype=self.data.dtype)
        found = _core.rerank_query_knn(self.data, ordered, candidates, self.k,
                                       getattr(_core.Metric, self.metric), threads)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return tuple(values[inverse] for values in found)

    def _fit_projection(self, dimensions, inverse_norms, rng):
        """The projection of the rows and the data's own, ``self.projected``."""
        if dimensions == self.data.shape[1]:
            center, axes = sample_center(self.data, inverse_norms, rng), None
        else:
            center, axes = principal_axes(self.data, dimensions, inverse_norms, rng)
        self._center, self._axes = center, axes
        self.projected, self._exponent = project(self.data, center, axes, inverse_norms)

    def _project(self, rows):
        """``rows`` (n, n_features) projected as the data was: (n, dimensions) float32."""
        inverse_norms = 1.0 / row_norms(rows) if self.metric == "cosine" else None
        return project(rows, self._center, self._axes, inverse_norms, self._exponent)[0]

    def _inverted_file(self, check, threads, rng):
        """``(centroids, homes, probes)`` of the first probing the :class:`RecallCheck` passes.

        ``(None, None, None)`` when the data is too small for an inverted
        file or no probing of fewer than half the clusters is good enough.
        """
        if not inverted_file_fits(len(self.projected)):
            return None, None, None
        cluster_rows, first_probes = inverted_file_shape(len(self.projected))
        centroids = kmeans(self.projected, len(self.projected) // cluster_rows, rng, threads)
        self.centroids = centroids
        self.homes = _core.nearest_centroids(self.projected, centroids, 1, threads)[:, 0]
        sample = check.queries
        points = self.projected[sample]
        counts = probe_counts(max(1, round(first_probes * QUERY_PROBES_SHARE)), len(centroids))
        if not counts:  # duplicates left too few clusters
            return None, None, None
        nearest = _core.nearest_centroids(points, centroids, counts[-1], threads)
        for probes in counts:
            found = self._probed(points, np.ascontiguousarray(nearest[:, :probes]),
                                 self.count + 1, threads)
            if check.passes(self._without(sample, found)):
                return centroids, self.homes, probes
        return None, None, None

    def _probed(self, points, probes, count, threads):
        """``count`` candidate rows (unordered) per projected query, from its ``probes``."""
        candidates = _core.probed_query_knn(self.projected, self.homes, len(self.centroids),
                                            points, probes, count, threads)
        # Queries whose clusters hold fewer than ``count`` rows are searched in full.
        short = np.flatnonzero(candidates[:, -1] < 0)
        if short.size:
            candidates[short] = self._nearest_projected(points[short], count)
        return candidates

    def _nearest_projected(self, points, count):
        """The ``count`` projected rows nearest to each of ``points`` (brute force), unordered."""
        count = min(count, len(self.projected))
        squared_norms = np.einsum("ij,ij->i", self.projected, self.projected)
        found = np.empty((len(points), count), dtype=np.int64)
        # Blocks of queries bound the (queries x n_samples) keys to about 2^24 values.
        step = max(1, (1 << 24) // len(self.projected))
        for start in range(0, len(points), step):
            rows = slice(start, start + step)
            keys = squared_norms - 2.0 * (points[rows] @ self.projected.T)
            found[rows] = (np.argpartition(keys, count - 1, axis=1)[:, :count]
                           if count < len(self.projected)
                           else np.arange(len(self.projected)))
        return found

    @staticmethod
    def _without(sample, candidates):
        """Sampled rows' candidates less one column: the row itself where found, else the last."""
        is_self = candidates == sample[:, None]
        dropped = np.where(is_self.any(axis=1), is_self.argmax(axis=1), candidates.shape[1] - 1)
        keep = np.ones(candidates.shape, dtype=bool)
        keep[np.arange(len(sample)), dropped] = False
        return candidates[keep].reshape(len(sample), -1)
