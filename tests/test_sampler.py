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
