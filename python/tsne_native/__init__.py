"""tsne-native: native-accelerated t-SNE affinities, parametric t-SNE and
TensorBoard projector export.

Importing this package does not import TensorFlow; only the modules that
train or export do.
"""

import scipy_openblas32  # noqa: F401  (loads the OpenBLAS that _core links against)

from . import _core, datasets
from .affinity import affinities, calibrate
from .neighbors import nearest_neighbors
from .parametric import ParametricTSNE, load

__version__ = "0.1.0"
__all__ = ["affinities", "calibrate", "nearest_neighbors", "ParametricTSNE", "load",
           "has_openmp", "datasets"]


def has_openmp() -> bool:
    """Whether the native core was built with OpenMP (multi-threaded)."""
    return _core.has_openmp()
