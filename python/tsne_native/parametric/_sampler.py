"""What a training step sees: P-edges sampled on the device, and the t-SNE loss on them.

Training samples P-edges ``(i, j)`` with probability ``p_ij`` on the device and
uses the pairs of independently drawn batch points as the repulsive set,
normalizing Q over those pairs (a negative-sampling view of t-SNE, Damrich et
al., ICLR 2023).  With ``e = sampled edges``, ``r = repulsive pairs`` and
``w(d) = (1 + d^2 / dof)^(-(dof + 1) / 2)`` a step minimizes

    exaggeration * mean_e[-log w(y_i, y_j)] + log mean_r w(y_k, y_l),

an estimate of KL(P || Q) up to constants; the reported loss adds them back.

A training variant is another loss (or sampler) class with the same methods,
handed to the trainer; nothing here is patched.
"""

from __future__ import annotations

import numpy as np

from .._tensorflow import tf


class EdgeSampler(tf.Module):
    """Draws a step's P-edges on the device, reproducibly from the step number.

    Heads ``i`` are drawn with probability ``sum_j p_ij`` and, for each head,
    ``tails_per_head`` tails ``j`` with probability ``p_ij / sum_j p_ij``:
    every drawn edge still has probability ``p_ij``, but the batch's forward
    pass serves more edges than with one tail per head.  The draws come from
    a stateless generator seeded by the step number, so no Python runs per
    step and a run is reproducible.

    Parameters
    ----------
    data : ndarray of shape (n_samples, n_features), dtype float32
    P : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The symmetric joint probabilities (summing to 1).
    heads_per_step, tails_per_head : int
        The step embeds ``heads_per_step * (1 + tails_per_head)`` points (per
        replica) and attracts along ``heads_per_step * tails_per_head`` edges.
    seed : int
        Seeds the edge sampling.
    mid_near_candidates : int, default=0
        When positive, the batch also holds a mid-near point of each head
        (:meth:`mid_near`), after the tails.

    Attributes
    ----------
    kl_offset : float
        The constant terms of KL(P || Q): ``sum p log p`` and the log of the
        number of ordered pairs.
    groups : tf.Tensor of shape (heads_per_step * (1 + tails_per_head),), int32
        The draw group of each batch point: a head and its tails alike.
    """

    def __init__(self, data, P, *, heads_per_step, tails_per_head, seed, mid_near_candidates=0):
        super().__init__(name="edge_sampler")
        self.heads_per_step = heads_per_step
        self.tails_per_head = tails_per_head
        self.mid_near_candidates = mid_near_candidates
        self.seed = int(seed)
        n = data.shape[0]
        positive = P.data[P.data > 0]  # far neighbours' weights may underflow to 0
        self.kl_offset = float(np.sum(positive * np.log(positive)) + np.log(n) + np.log(n - 1))
        cumulative = np.cumsum(P.data, dtype=np.float64)
        row_end = P.indptr[1:] - 1
        # Bisection steps that narrow the longest row down to one edge.
        self._row_search_steps = int(np.ceil(np.log2(max(2, np.diff(P.indptr).max())))) + 1
        # Variables, not constants: a compiled step must not bake the data in.
        self._data = tf.Variable(data, trainable=False, name="data")
        self._tails = tf.Variable(P.indices.astype(np.int32), trainable=False, name="tails")
        self._cumulative = tf.Variable(cumulative, trainable=False, name="cumulative_weights")
        self._row_cumulative = tf.Variable(cumulative[row_end], trainable=False,
                                           name="row_cumulative_weights")
        self._row_start = tf.Variable(P.indptr[:-1].astype(np.int32), trainable=False,
                                      name="row_start")
        self._row_end = tf.Variable(row_end.astype(np.int32), trainable=False, name="row_end")
        heads_range = np.arange(heads_per_step, dtype=np.int32)
        self.groups = tf.constant(np.concatenate([heads_range,
                                                  np.repeat(heads_range, tails_per_head)]))

    def batch(self, step):
        """``(ids, points)`` of one step: the heads, each head's tails (then each
        head's mid-near point, when drawn), and their rows."""
        heads, tails = self.sample_edges(step)
        parts = [heads, tf.reshape(tails, [-1])]
        if self.mid_near_candidates:
            parts.append(self.mid_near(heads, step))
        ids = tf.concat(parts, axis=0)
        return ids, tf.gather(self._data, ids)

    def mid_near(self, heads, step):
        """Per head, of ``mid_near_candidates`` rows drawn uniformly, the second nearest.

        The mid-near pairs of PaCMAP (Wang et al., JMLR 2021), which
        ParamRepulsor (Huang et al., NeurIPS 2024) repels as hard negatives:
        nearer than a random point, yet rarely a P-neighbour.
        """
        seed = tf.random.experimental.stateless_fold_in(
            tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)]), 1)
        candidates = tf.random.stateless_uniform(
            [self.heads_per_step, self.mid_near_candidates], seed=seed, minval=0,
            maxval=tf.shape(self._data, out_type=tf.int32)[0], dtype=tf.int32)
        squared = tf.reduce_sum(tf.square(tf.gather(self._data, candidates)
                                          - tf.gather(self._data, heads)[:, None, :]), axis=2)
        second = tf.math.top_k(-squared, k=2).indices[:, 1]
        return tf.gather(candidates, second, batch_dims=1)

    def sample_edges(self, step):
        """Heads (heads_per_step,) and their tails (heads_per_step, tails_per_head) for one step."""
        seeds = tf.random.experimental.stateless_split(
            tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)]), num=2)
        # Heads: the row of an edge drawn with probability p_ij.
        uniform = tf.random.stateless_uniform([self.heads_per_step], seed=seeds[0],
                                              dtype=tf.float64)
        heads = tf.searchsorted(self._row_cumulative, uniform * self._row_cumulative[-1],
                                side="right")
        heads = tf.minimum(heads, tf.shape(self._row_end)[0] - 1)
        # Tails: edges of the head's row, by inverse CDF within the row.
        row_start = tf.repeat(tf.gather(self._row_start, heads), self.tails_per_head)
        row_end = tf.repeat(tf.gather(self._row_end, heads), self.tails_per_head)
        row_high = tf.gather(self._cumulative, row_end)
        row_low = tf.where(row_start > 0, tf.gather(self._cumulative, tf.maximum(row_start - 1, 0)),
                           tf.zeros_like(row_high))
        uniform = tf.random.stateless_uniform(tf.shape(row_high), seed=seeds[1],
                                              dtype=tf.float64)
        edges = self._first_above(row_low + uniform * (row_high - row_low), row_start, row_end)
        return heads, tf.reshape(tf.gather(self._tails, edges), [-1, self.tails_per_head])

    def _first_above(self, targets, low, high):
        """Per target, the first edge in [low, high] whose cumulative weight exceeds it (else high).

        A bisection within each row: ``tf.searchsorted`` over the whole edge
        list costs time linear in its length, which dominated a step on large data.
        """
        for _ in range(self._row_search_steps):
            middle = (low + high) // 2
            above = tf.gather(self._cumulative, middle) > targets
            high = tf.where(above, middle, high)
            low = tf.where(above, low, tf.minimum(middle + 1, high))
        return high


class TSNELoss:
    """KL(P || Q) on a sampled batch, with Q normalized over its independent pairs.

    Parameters
    ----------
    dof : float
        Degrees of freedom of the Student-t kernel (1 is classic t-SNE).
    repulsion_pairs : int or None, default=None
        Partners of each batch point in the estimate of Q's normalization:
        the points ``s`` places further along the batch, for
        ``repulsion_pairs`` offsets ``s`` spread evenly over it.  ``None``
        (or at least the batch size less one) pairs every two points, which
        costs the square of the batch size per step.
    normalization : {"batch", "point"}, default="batch"
        ``"batch"``: one normalization of Q shared by the batch, as in t-SNE.
        ``"point"``: each point's own (the mean of w over its partners), so an
        edge's repulsion is the mean of its two ends' log normalizations: the
        per-anchor softmax of InfoNCE (InfoNC-t-SNE, Damrich et al., ICLR
        2023), in which a point in a sparse part of the map is pushed as hard
        as one in a crowded part.
    mid_near_weight : float, default=0
        Weight of a repulsion between each head and its mid-near point
        (:meth:`EdgeSampler.mid_near`, the batch's last ``heads_per_step``
        points): ``mid_near_weight * mean log(1 + w)``, a third term returned
        beside the two of KL(P || Q).
    """

    def __init__(self, dof, repulsion_pairs=None, normalization="batch", mid_near_weight=0.0):
        self.dof = float(dof)
        self.repulsion_pairs = repulsion_pairs
        self.normalization = normalization
        self.mid_near_weight = float(mid_near_weight)

    def __call__(self, y, ids, groups, heads_per_step, tails_per_head):
        """``(attraction, repulsion, *penalties)`` of the batch embedding ``y``.

        ``y`` (m, n_components) holds the heads, then each head's tails (then,
        with ``mid_near_weight``, each head's mid-near point); the step
        minimizes ``exaggeration * attraction + repulsion + sum(penalties)``.
        """
        edge_points = heads_per_step * (1 + tails_per_head)
        y_heads = y[:heads_per_step]
        y_tails = tf.reshape(y[heads_per_step:edge_points], [heads_per_step, tails_per_head, -1])
        penalties = ()
        if self.mid_near_weight:
            squared = tf.reduce_sum(tf.square(y_heads - y[edge_points:]), axis=1)
            penalties = (self.mid_near_weight
                         * tf.reduce_mean(tf.math.log1p(tf.exp(self.log_kernel(squared)))),)
        y, ids = y[:edge_points], ids[:edge_points]
        if self.normalization == "point":
            log_means = self.log_point_means(y, ids, groups)
            # Edge-weighted: a head ends tails_per_head edges, a tail one.
            repulsion = 0.5 * (tf.reduce_mean(log_means[:heads_per_step])
                               + tf.reduce_mean(log_means[heads_per_step:]))
        else:
            repulsion = self.log_mean_kernel(y, ids, groups)
        return (self.attraction(y_heads, y_tails), repulsion, *penalties)

    def log_kernel(self, squared_distances):
        """log w for squared embedding distances (Student-t with ``dof`` degrees of freedom)."""
        return -0.5 * (self.dof + 1.0) * tf.math.log1p(squared_distances / self.dof)

    def attraction(self, y_heads, y_tails):
        """mean over the batch's edges of -log w(y_i, y_j).

        ``y_heads`` is (heads, n_components), ``y_tails`` (heads, tails_per_head, n_components).
        """
        squared = tf.reduce_sum(tf.square(y_heads[:, None, :] - y_tails), axis=2)
        return -tf.reduce_mean(self.log_kernel(squared))

    def kernel(self, a, b):
        """w between every row of ``a`` (p, m) and of ``b`` (q, m): shape (p, q)."""
        squared = (tf.reduce_sum(tf.square(a), axis=1)[:, None]
                   + tf.reduce_sum(tf.square(b), axis=1)[None, :]
                   - 2.0 * tf.matmul(a, b, transpose_b=True))
        return tf.exp(self.log_kernel(tf.maximum(squared, 0.0)))

    def log_mean_kernel(self, y, ids, groups):
        """log of the mean of w over the batch's pairs of distinct, independently drawn points.

        ``y`` is (m, n_components), ``ids`` (m,) the points' rows and
        ``groups`` (m,) numbers each head and its tails alike.  A head and its
        own tails are P-neighbours by construction, and a point drawn twice
        has w = 1 with itself: counting such pairs would make the repulsion
        act mostly between the very points the attraction pulls together (w
        near 1 against a typical 1e-4 on large data).
        """
        weights, independent = self.partner_kernel(y, ids, groups)
        return tf.math.log(tf.reduce_sum(weights) / tf.reduce_sum(independent))

    def log_point_means(self, y, ids, groups):
        """(m,): per batch point, log of the mean of w over its independent partners."""
        weights, independent = self.partner_kernel(y, ids, groups)
        return tf.math.log(tf.reduce_sum(weights, axis=1)
                           / tf.maximum(tf.reduce_sum(independent, axis=1), 1.0))

    def partner_kernel(self, y, ids, groups):
        """``(weights, independent)``, both (m, partners): w to each partner, 0 where dependent.

        ``independent`` is 1 for a partner drawn independently of the point
        (another group, another row) and 0 otherwise (:meth:`log_mean_kernel`).
        """
        size = int(groups.shape[0])
        if self.repulsion_pairs is None or self.repulsion_pairs >= size - 1:
            independent = tf.cast(tf.logical_and(tf.not_equal(groups[:, None], groups[None, :]),
                                                 tf.not_equal(ids[:, None], ids[None, :])),
                                  y.dtype)
            return self.kernel(y, y) * independent, independent
        partners = tf.constant(partner_positions(size, self.repulsion_pairs))
        independent = tf.cast(tf.logical_and(
            tf.not_equal(groups[:, None], tf.gather(groups, partners)),
            tf.not_equal(ids[:, None], tf.gather(ids, partners))), y.dtype)
        squared = tf.reduce_sum(tf.square(y[:, None, :] - tf.gather(y, partners)), axis=2)
        return tf.exp(self.log_kernel(squared)) * independent, independent


def partner_positions(size, pairs):
    """Positions ``(size, pairs)`` int32: the partners of each of ``size`` batch points.

    Point ``a`` pairs with ``(a + s) % size`` for ``pairs`` offsets ``s``
    spread evenly over ``1 .. size - 1`` (distinct for ``pairs < size``); the
    batch is a random draw, so fixed offsets still pair random points.
    """
    offsets = 1 + (np.arange(pairs) * (size - 1)) // pairs
    return ((np.arange(size)[:, None] + offsets[None, :]) % size).astype(np.int32)
