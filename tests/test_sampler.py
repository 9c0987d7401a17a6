"""Edge sampling on the device and the loss terms of a training step."""

import numpy as np
import pytest
import tensorflow as tf

import tsne_native
from tsne_native.parametric._sampler import EdgeSampler, TSNELoss, partner_positions


@pytest.fixture(scope="module")
def small_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5)).astype(np.float32)
    P = tsne_native.affinities(X, perplexity=5)
    sampler = EdgeSampler(X, P, heads_per_step=500, tails_per_head=3, seed=0)
    return P, sampler


def test_sampled_edges_follow_p(small_problem):
    P, sampler = small_problem
    counts = np.zeros(P.shape)
    for step in range(40):
        heads, tails = (t.numpy() for t in sampler.sample_edges(tf.constant(step)))
        np.add.at(counts, (np.repeat(heads, tails.shape[1]), tails.ravel()), 1)
    frequencies = counts / counts.sum()
    assert counts[P.toarray() == 0].sum() == 0  # only edges of P
    # 60,000 draws: the total variation from P is small.
    assert 0.5 * np.abs(frequencies - P.toarray()).sum() < 0.06


def test_sampling_is_reproducible_per_step(small_problem):
    _, sampler = small_problem
    first = [t.numpy() for t in sampler.sample_edges(tf.constant(7))]
    again = [t.numpy() for t in sampler.sample_edges(tf.constant(7))]
    other = [t.numpy() for t in sampler.sample_edges(tf.constant(8))]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


def test_log_mean_kernel_matches_numpy():
    loss = TSNELoss(dof=1.0)
    y = np.random.default_rng(1).normal(scale=3, size=(30, 2)).astype(np.float32)
    D2 = ((y[:, None] - y[None]) ** 2).sum(-1)
    w = 1.0 / (1.0 + D2)
    expected = np.log((w.sum() - 30) / (30 * 29))
    distinct = tf.range(30)
    got = loss.log_mean_kernel(tf.constant(y), distinct, distinct)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_log_mean_kernel_skips_draw_groups_and_repeated_points():
    loss = TSNELoss(dof=1.0)
    y = np.random.default_rng(2).normal(scale=3, size=(6, 2)).astype(np.float32)
    ids = np.array([0, 1, 2, 3, 4, 1])     # point 1 drawn twice
    groups = np.array([0, 1, 2, 0, 0, 3])  # a head (row 0) with its two tails
    w = 1.0 / (1.0 + ((y[:, None] - y[None]) ** 2).sum(-1))
    counted = (ids[:, None] != ids[None, :]) & (groups[:, None] != groups[None, :])
    assert counted.sum() == 30 - 6 - 2  # 6 same-group and 2 same-point ordered pairs left out
    expected = np.log(w[counted].mean())
    got = loss.log_mean_kernel(tf.constant(y), tf.constant(ids), tf.constant(groups))
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_student_t_kernel_with_other_degrees_of_freedom():
    heavy, classic = TSNELoss(dof=0.5), TSNELoss(dof=1.0)
    squared = np.array([0.0, 1.0, 9.0], dtype=np.float32)
    np.testing.assert_allclose(heavy.log_kernel(tf.constant(squared)).numpy(),
                               -0.75 * np.log1p(squared / 0.5), rtol=1e-6)
    np.testing.assert_allclose(classic.log_kernel(tf.constant(squared)).numpy(),
                               -np.log1p(squared), rtol=1e-6)


def test_partner_positions_spread_distinct_offsets_over_the_batch():
    partners = partner_positions(10, 3)
    assert partners.shape == (10, 3) and partners.dtype == np.int32
    offsets = (partners - np.arange(10)[:, None]) % 10
    assert (offsets == offsets[0]).all()           # the same offsets for every point
    assert len(set(offsets[0])) == 3 and 0 not in offsets[0]
    assert offsets[0].min() == 1 and offsets[0].max() > 5


def test_repulsion_pairs_use_only_the_partners_and_skip_dependent_pairs():
    rng = np.random.default_rng(3)
    y = rng.normal(scale=3, size=(12, 2)).astype(np.float32)
    ids = np.arange(12)
    ids[11] = 0                                     # point 0 drawn twice
    groups = np.repeat(np.arange(6), 2)             # heads with one tail each
    partners = partner_positions(12, 4)
    w = 1.0 / (1.0 + ((y[:, None] - y[partners]) ** 2).sum(-1))
    counted = (ids[:, None] != ids[partners]) & (groups[:, None] != groups[partners])
    assert 0 < counted.sum() < counted.size
    got = TSNELoss(dof=1.0, repulsion_pairs=4).log_mean_kernel(
        tf.constant(y), tf.constant(ids), tf.constant(groups))
    assert float(got) == pytest.approx(np.log(w[counted].mean()), rel=1e-5)


def test_as_many_repulsion_pairs_as_partners_means_every_pair():
    y = tf.constant(np.random.default_rng(5).normal(size=(9, 2)).astype(np.float32))
    distinct = tf.range(9)
    every = TSNELoss(dof=1.0).log_mean_kernel(y, distinct, distinct)
    for pairs in (8, 100):
        assert float(TSNELoss(dof=1.0, repulsion_pairs=pairs).log_mean_kernel(
            y, distinct, distinct)) == pytest.approx(float(every), rel=1e-6)


def test_point_normalization_averages_each_points_own_log_mean_kernel():
    rng = np.random.default_rng(4)
    heads, tails = 3, 2
    y = rng.normal(scale=3, size=(heads * (1 + tails), 2)).astype(np.float32)
    ids = np.arange(len(y))
    groups = np.concatenate([np.arange(heads), np.repeat(np.arange(heads), tails)])
    w = 1.0 / (1.0 + ((y[:, None] - y[None]) ** 2).sum(-1))
    independent = groups[:, None] != groups[None, :]
    own = np.log((w * independent).sum(1) / independent.sum(1))
    loss = TSNELoss(dof=1.0, normalization="point")
    attraction, repulsion = loss(tf.constant(y), tf.constant(ids), tf.constant(groups),
                                 heads, tails)
    # An edge's repulsion is the mean of its ends'; a head ends `tails` edges.
    edge_ends = np.concatenate([np.repeat(own[:heads], tails)[:, None],
                                own[heads:, None]], axis=1)
    assert float(repulsion) == pytest.approx(edge_ends.mean(), rel=1e-5)
    batch_wide = TSNELoss(dof=1.0)(tf.constant(y), tf.constant(ids), tf.constant(groups),
                                   heads, tails)
    assert float(attraction) == pytest.approx(float(batch_wide[0]))
    assert float(batch_wide[1]) == pytest.approx(np.log(w[independent].mean()), rel=1e-5)
    assert abs(float(repulsion) - float(batch_wide[1])) > 1e-3


def test_mid_near_points_are_the_second_nearest_of_their_candidates():
    X = np.arange(40, dtype=np.float32)[:, None] ** 1.5  # distinct distances everywhere
    P = tsne_native.affinities(X, perplexity=5)
    sampler = EdgeSampler(X, P, heads_per_step=64, tails_per_head=3, seed=0,
                          mid_near_candidates=6)
    ids, points = sampler.batch(tf.constant(3))
    assert ids.shape == (64 * (1 + 3) + 64,) and points.shape == (64 * 5, 1)
    heads, mid_near = ids.numpy()[:64], ids.numpy()[-64:]
    # The second nearest of six uniform draws lies about 2/7 of the way into a
    # head's distances to all rows, where a uniform draw lies half way.
    gaps = np.abs(X[mid_near, 0] - X[heads, 0])
    all_gaps = np.abs(X[:, 0][None, :] - X[heads, 0][:, None])
    ranks = (all_gaps < gaps[:, None]).sum(axis=1) / len(X)
    assert 0.2 < ranks.mean() < 0.4  # the nearest of six: about 1/7; the third: 3/7
    assert np.median(gaps) > 0  # not the head itself
    again = sampler.batch(tf.constant(3))[0].numpy()
    np.testing.assert_array_equal(again, ids.numpy())


def test_the_mid_near_penalty_is_a_third_term_of_the_heads_and_their_mid_near_points():
    rng = np.random.default_rng(6)
    heads, tails = 4, 3
    y = rng.normal(scale=2, size=(heads * (2 + tails), 2)).astype(np.float32)
    ids = tf.range(len(y))
    groups = tf.constant(np.concatenate([np.arange(heads), np.repeat(np.arange(heads), tails)]))
    plain = TSNELoss(dof=1.0)(tf.constant(y[:heads * (1 + tails)]), ids[:heads * (1 + tails)],
                              groups, heads, tails)
    attraction, repulsion, penalty = TSNELoss(dof=1.0, mid_near_weight=8.0)(
        tf.constant(y), ids, groups, heads, tails)
    assert (float(attraction), float(repulsion)) == pytest.approx(tuple(map(float, plain)))
    w = 1.0 / (1.0 + ((y[:heads] - y[-heads:]) ** 2).sum(-1))
    assert float(penalty) == pytest.approx(8.0 * np.log1p(w).mean(), rel=1e-5)
