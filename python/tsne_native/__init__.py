"""tsne-native: native-accelerated t-SNE affinities, parametric t-SNE and
TensorBoard projector export.

Importing this package does not import TensorFlow; only the modules that
train or export do.  The rooms, one per stage: :mod:`.affinity` (neighbours
and the joint P), :mod:`.tsne` (the native optimizer), :mod:`.parametric` (the
network), :mod:`.projector` (the log TensorBoard shows) and :mod:`.fit` (the
command line); :mod:`.dask` embeds chunked dask arrays with a saved model
(imported only on request: ``import tsne_native.dask``).
"""

from importlib import metadata as _metadata

import scipy_openblas32  # noqa: F401  (loads the OpenBLAS that _core links against)

from . import _core, datasets
from .affinity import affinities, calibrate, nearest_neighbors
from .parametric import ParametricTSNE
from .saved import load
from .tsne import TSNE

__version__ = _metadata.version("tsne-native")
__all__ = [
    "TSNE",
    "ParametricTSNE",
    "affinities",
    "calibrate",
    "datasets",
    "has_openmp",
    "load",
    "nearest_neighbors",
]


def has_openmp() -> bool:
    """Whether the native core was built with OpenMP (multi-threaded)."""
    return _core.has_openmp()
