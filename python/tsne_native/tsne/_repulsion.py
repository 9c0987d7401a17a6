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

# The charges, convolutions and fields are single precision: twice as fast
# as double, and their rounding (about 1e-7 of the largest potential) is far
# below the interpolation's own error (about 1e-2 at the default grid).
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
    coordinate.  Charges on its ``N`` nodes per axis are convolved with the
    kernels by FFTs of ``2 M >= 2 N`` points per axis, ``M`` a fast FFT length.
    The kernels are even in every axis, so their spectra are real: a type-1
    DCT of one quadrant of node offsets (``0 .. M`` per axis) gives them.
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
        self._nodes = self.n_boxes * self.points_per_box
        self._half = scipy.fft.next_fast_len(self._nodes, real=True)
        squared = self._squared_offsets(self.box_width / self.points_per_box)
        root = 1.0 / (1.0 + squared / FFT_DTYPE(dof))  # w^(1/dof)
        w = root if dof == 1 else root ** FFT_DTYPE(dof)
        self._kernels = [self._spectrum(kernel) for kernel in (w, w * root)]

    def _squared_offsets(self, spacing):
        """Squared lengths of the node offsets ``0 .. M`` on every axis: (M + 1, ...)."""
        squares = np.square(np.arange(self._half + 1, dtype=FFT_DTYPE) * FFT_DTYPE(spacing))
        if self.dimensions == 1:
            return squares
        return squares[:, None] + squares[None, :]

    def _spectrum(self, quadrant):
        """The real spectrum of the even kernel whose offsets ``0 .. M`` are ``quadrant``.

        Laid out as ``rfftn`` lays out a spectrum: (M + 1,) in 1-D, (2 M, M + 1) in
        2-D, where frequency ``2 M - f`` of the first axis equals frequency ``f``.
        """
        spectrum = scipy.fft.dctn(quadrant, type=1, workers=self.threads)
        if self.dimensions == 1:
            return spectrum
        return np.concatenate([spectrum, spectrum[-2:0:-1]])

    def spread(self, y):
        """Charges 1, y_0, ..., y_{d-1} of the points on the nodes: (d + 1, nodes, ...)."""
        return _core.spread_charges(y, self.n_boxes, self.points_per_box, self.lower,
                                    self.box_width, self.threads)

    def potentials(self, charges):
        """The fields ``w * 1, w' * 1, w' * y_0, ...`` on the nodes (w' = w^(1 + 1/dof)).

        Axis by axis, so that no pass transforms only zeros: the charges fill
        the first ``N`` of the ``2 M`` points of each axis, and only the first
        ``N`` outputs of each axis are kept.

        Parameters
        ----------
        charges : ndarray of shape (d + 1, N, ...), dtype float32

        Returns
        -------
        ndarray of shape (N, ..., d + 2), dtype float32, C-contiguous
            A node's fields together, as :meth:`interpolate` reads them.
        """
        size, axes = 2 * self._half, range(1, self.dimensions)
        spectra = scipy.fft.rfft(charges, n=size, axis=-1, workers=self.threads)
        for axis in axes:
            spectra = scipy.fft.fft(spectra, n=size, axis=axis, workers=self.threads,
                                    overwrite_x=True)
        fields = np.empty((len(spectra) + 1,) + spectra.shape[1:], dtype=spectra.dtype)
        np.multiply(spectra[0], self._kernels[0], out=fields[0])
        np.multiply(spectra, self._kernels[1], out=fields[1:])
        del spectra
        kept = slice(0, self._nodes)
        for axis in axes:
            fields = scipy.fft.ifft(fields, axis=axis, workers=self.threads, overwrite_x=True)
            fields = fields[(slice(None),) * axis + (kept,)]
        fields = scipy.fft.irfft(fields, n=size, axis=-1, workers=self.threads)
        nodes = np.empty(fields.shape[1:-1] + (self._nodes, len(fields)), dtype=FFT_DTYPE)
        for field, values in enumerate(fields):  # 3x faster than a copy of the moved axis
            nodes[..., field] = values[..., kept]
        return nodes

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
