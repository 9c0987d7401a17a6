"""The repulsive half of the t-SNE gradient, for all pairs in less than O(n^2).

With ``w(d) = (1 + d^2 / dof)^(-dof)`` every method returns, for points ``y``
against sources ``s``, ``sum_j w_ij^(1 + 1/dof) (y_i - s_j)`` and each point's
``sum_j w_ij`` (its share of the normalization Z).

- Interpolation (Linderman et al., 2019, "FIt-SNE"): the native core spreads
  charges onto a grid of equispaced nodes (``points_per_box`` per box and axis),
  ``scipy.fft`` convolves them with the two kernels, and the core interpolates
  the potentials back at the points.  For 1-D and 2-D maps.
- Barnes-Hut (van der Maaten, 2014): a 2^d-ary tree in the native core; cells
  seen under an angle below ``theta`` stand for their points.  Any d <= 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from .. import _core

# The convolutions run in single precision: twice as fast as double, and
# their rounding (about 1e-7 of the largest potential) is far below the
# interpolation's own error (about 1e-2 at the default grid).
FFT_DTYPE = np.float32


@dataclass(frozen=True)
class InterpolationSettings:
    """The interpolation grid's resolution (openTSNE's defaults).

    Attributes
    ----------
    points_per_box : int
        Interpolation nodes per box and axis.
    min_boxes : int
        Boxes per axis at least.
    boxes_per_unit : float
        Boxes per unit of embedding length beyond ``min_boxes`` (openTSNE's
        ``ints_in_interval`` is its inverse).
    """

    points_per_box: int = 3
    min_boxes: int = 50
    boxes_per_unit: float = 1.0


class Grid:
    """An interpolation grid covering the points ``y`` (n, d), d <= 2, and its kernels.

    The grid is a square (or interval) from the smallest to the largest
    coordinate; the kernels are the Fourier transforms of ``w`` and
    ``w^(1 + 1/dof)`` over its node offsets, ready to convolve charges with.
    """

    def __init__(self, y, dof, settings, threads):
        low, high = float(y.min()), float(y.max())
        span = max(high - low, 1e-12)
        self.n_boxes = max(settings.min_boxes, int(np.ceil(span * settings.boxes_per_unit)))
        self.points_per_box = settings.points_per_box
        self.box_width = span / self.n_boxes
        self.lower = low
        self.dimensions = y.shape[1]
        self.threads = threads
        nodes = self.n_boxes * self.points_per_box
        self._nodes = nodes
        self._shape = (scipy.fft.next_fast_len(2 * nodes - 1, real=True),) * self.dimensions
        squared = self._squared_offsets(self.box_width / self.points_per_box)
        root = 1.0 / (1.0 + squared / FFT_DTYPE(dof))  # w^(1/dof)
        w = root if dof == 1 else root ** FFT_DTYPE(dof)
        self._kernels = [scipy.fft.rfftn(kernel, workers=threads) for kernel in (w, w * root)]

    def _squared_offsets(self, spacing):
        """Squared distances of node offsets, laid out circularly on the FFT shape."""
        size = self._shape[0]
        offsets = np.arange(size, dtype=FFT_DTYPE)
        offsets[offsets > size // 2] -= size  # index o stands for offset o or o - size
        squares = np.square(offsets * FFT_DTYPE(spacing))
        if self.dimensions == 1:
            return squares
        return squares[:, None] + squares[None, :]

    def spread(self, y):
        """Charges 1, y_0, ..., y_{d-1} of the points on the nodes: (d + 1, nodes, ...)."""
        return _core.spread_charges(y, self.n_boxes, self.points_per_box, self.lower,
                                    self.box_width, self.threads)

    def potentials(self, charges):
        """The fields ``w * 1, w' * 1, w' * y_0, ...`` on the nodes (w' = w^(1 + 1/dof))."""
        axes = tuple(range(1, self.dimensions + 1))
        spectra = scipy.fft.rfftn(charges.astype(FFT_DTYPE), s=self._shape, axes=axes,
                                  workers=self.threads)
        products = np.concatenate([spectra[:1] * self._kernels[0], spectra * self._kernels[1]])
        fields = scipy.fft.irfftn(products, s=self._shape, axes=axes, workers=self.threads)
        kept = fields[(slice(None),) + (slice(0, self._nodes),) * len(axes)]
        return np.ascontiguousarray(kept, dtype=np.float64)

    def interpolate(self, y, fields):
        """The fields at the points: (n, n_fields)."""
        return _core.interpolate_potentials(y, self.n_boxes, self.points_per_box, self.lower,
                                            self.box_width, fields, self.threads)


def forces_from_fields(y, values):
    """``(repulsion (n, d), z (n,))`` from the interpolated fields of :meth:`Grid.potentials`."""
    return y * values[:, 1:2] - values[:, 2:], values[:, 0]


def interpolated_repulsion(y, dof, settings, threads):
    """Repulsion of every point by all (itself included, which adds nothing) and Z.

    Returns
    -------
    repulsion : ndarray of shape (n, d), dtype float64
    Z : float
        ``sum_{i != j} w_ij``.
    """
    grid = Grid(y, dof, settings, threads)
    repulsion, z = forces_from_fields(y, grid.interpolate(y, grid.potentials(grid.spread(y))))
    return repulsion, float(z.sum()) - len(y)  # each point's own w = 1


def barnes_hut_repulsion(y, dof, theta, threads):
    """:func:`interpolated_repulsion` by Barnes-Hut: ``(repulsion (n, d), Z)``."""
    repulsion, z = _core.barnes_hut_repulsion(y, y, dof, theta, True, threads)
    return repulsion, float(z.sum())


class FixedMapRepulsion:
    """Repulsion of new points by a map that stays fixed while they move.

    The map's potentials are computed once (on a grid reaching a tenth of the
    map's span beyond it, where new points may land); each call then only
    interpolates them at the new points.  Barnes-Hut keeps the map's tree
    for maps of three dimensions.
    """

    def __init__(self, reference, dof, method, settings, theta, threads):
        self.reference, self.dof, self.theta, self.threads = reference, dof, theta, threads
        self.method = method
        if method == "fft":
            margin = 0.1 * (float(reference.max()) - float(reference.min()))
            corners = np.array([[reference.min() - margin] * reference.shape[1],
                                [reference.max() + margin] * reference.shape[1]])
            self.grid = Grid(np.vstack([reference, corners]), dof, settings, threads)
            self.fields = self.grid.potentials(self.grid.spread(reference))

    def __call__(self, y):
        """``(repulsion (n, d), z (n,))`` of the points ``y`` by the map."""
        if self.method == "fft":
            return forces_from_fields(y, self.grid.interpolate(y, self.fields))
        return _core.barnes_hut_repulsion(y, self.reference, self.dof, self.theta, False,
                                          self.threads)
