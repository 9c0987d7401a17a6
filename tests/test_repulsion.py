"""The gradient's parts from the native core against the exact O(n^2) sums."""

import numpy as np
import pytest
import scipy.sparse

import tsne_native
from tsne_native import _core
from tsne_native.tsne import _repulsion


def exact_repulsion(y, sources, dof, exclude_self):
    """(sum_j w^(1+1/dof) (y_i - s_j), sum_j w_ij) in float64 numpy."""
    squared = ((y[:, None] - sources[None]) ** 2).sum(-1)
    root = 1.0 / (1.0 + squared / dof)
    w = root ** dof
    if exclude_self:
        np.fill_diagonal(w, 0.0)
    force = ((w * root)[:, :, None] * (y[:, None] - sources[None])).sum(1)
    return force, w.sum(1)


def relative_error(estimate, exact):
    return np.linalg.norm(estimate - exact) / np.linalg.norm(exact)


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(0)
    # Clusters of different sizes, as a t-SNE map has them.
    centres = rng.normal(scale=15, size=(6, 3))
    labels = rng.integers(0, 6, size=1500)
    return centres[labels] + rng.normal(size=(1500, 3))


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("dof", [1.0, 0.6])
def test_interpolation_matches_the_exact_repulsion(maps, d, dof):
    y = maps[:, :d].copy()
    force, z = exact_repulsion(y, y, dof, exclude_self=True)
    default = _repulsion.InterpolationSettings()
    estimate, total = _repulsion.interpolated_repulsion(y, dof, default, 2)
    # openTSNE's default grid (3 nodes per box of length 1, at least 50 boxes):
    # measured 0.022-0.025 (1-D) and 0.017-0.018 (2-D) here; total within 6e-4.
    assert relative_error(estimate, force) < 0.04
    assert total == pytest.approx(z.sum(), rel=2e-3)
    # A finer grid converges to the exact sum (third-order interpolation).
    fine = _repulsion.InterpolationSettings(points_per_box=5, boxes_per_unit=4)
    estimate, total = _repulsion.interpolated_repulsion(y, dof, fine, 2)
    assert relative_error(estimate, force) < 1e-4
    assert total == pytest.approx(z.sum(), rel=1e-6)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_barnes_hut_matches_the_exact_repulsion(maps, d):
    y = maps[:, :d].copy()
    force, z = exact_repulsion(y, y, 1.0, exclude_self=True)
    estimate, total = _repulsion.barnes_hut_repulsion(y, 1.0, 0.5, 2)
    assert relative_error(estimate, force) < 0.03
    assert total == pytest.approx(z.sum(), rel=0.02)
    exact, total = _repulsion.barnes_hut_repulsion(y, 1.0, 0.0, 2)  # theta 0 opens every cell
    np.testing.assert_allclose(exact, force, rtol=1e-9, atol=1e-9)
    assert total == pytest.approx(z.sum(), rel=1e-12)


def test_duplicates_do_not_break_barnes_hut():
    y = np.zeros((200, 2))
    y[100:] = 1.0
    force, z = exact_repulsion(y, y, 1.0, exclude_self=True)
    estimate, total = _repulsion.barnes_hut_repulsion(y, 1.0, 0.5, 1)
    np.testing.assert_allclose(estimate, force, atol=1e-9)
    assert total == pytest.approx(z.sum())


@pytest.mark.parametrize("method", ["fft", "bh"])
def test_a_fixed_map_repels_new_points_as_the_exact_sum(maps, method):
    reference, new = maps[:1200, :2].copy(), maps[1200:, :2].copy()
    force, z = exact_repulsion(new, reference, 1.0, exclude_self=False)
    repulsion = _repulsion.FixedMapRepulsion(reference, 1.0, method,
                                             _repulsion.InterpolationSettings(), 0.5, 2)
    estimate, z_estimate = repulsion(new)
    assert relative_error(estimate, force) < 0.03
    np.testing.assert_allclose(z_estimate, z, rtol=0.03)


def test_attraction_matches_the_exact_sum(maps):
    y = maps[:300, :2].copy()
    P = tsne_native.affinities(maps[:300], perplexity=10)
    attraction, p_log_w = _core.attractive_forces(P.indptr, P.indices, P.data, y, y, 0.7, True,
                                                  2)
    dense = P.toarray()
    squared = ((y[:, None] - y[None]) ** 2).sum(-1)
    root = 1.0 / (1.0 + squared / 0.7)
    expected = ((dense * root)[:, :, None] * (y[:, None] - y[None])).sum(1)
    # The neighbours' coordinates are read in single precision.
    scale = np.abs(expected).max()
    np.testing.assert_allclose(attraction, expected, rtol=1e-5, atol=1e-5 * scale)
    assert p_log_w == pytest.approx(np.sum(dense * 0.7 * np.log(root)), rel=1e-6)


def test_results_do_not_depend_on_the_thread_count(maps):
    y = maps[:, :2].copy()
    P = scipy.sparse.random(1500, 1500, density=0.01, random_state=0, format="csr")
    for threads in (1, 2):
        grid = _repulsion.Grid(y, 1.0, _repulsion.InterpolationSettings(), threads)
        charges = grid.spread(y)
        values = grid.interpolate(y, grid.potentials(charges))
        bh = _core.barnes_hut_repulsion(y, y, 1.0, 0.5, True, threads)
        attraction = _core.attractive_forces(P.indptr.astype(np.int64),
                                             P.indices.astype(np.int32), P.data, y, y, 1.0,
                                             True, threads)
        if threads == 1:
            first = (charges, values, *bh, *attraction)
        else:
            for a, b in zip(first, (charges, values, *bh, *attraction)):
                np.testing.assert_array_equal(a, b)


def test_bad_arguments_raise_value_errors():
    y = np.zeros((10, 2))
    with pytest.raises(ValueError, match="1 to 3 columns"):
        _core.barnes_hut_repulsion(np.zeros((3, 4)), np.zeros((3, 4)), 1.0, 0.5, True, 1)
    with pytest.raises(ValueError, match="finite width"):
        _core.spread_charges(y, 10, 3, 0.0, 0.0, 1)
    with pytest.raises(ValueError, match="not finite"):
        _core.spread_charges(np.full((3, 2), np.nan), 10, 3, 0.0, 1.0, 1)
    with pytest.raises(ValueError, match="out of range"):
        _core.attractive_forces(np.array([0, 1]), np.array([5], np.int32), np.ones(1),
                                np.zeros((1, 2)), np.zeros((2, 2)), 1.0, False, 1)
