"""Parametric t-SNE: a network trained on the native joint P that embeds new points.

``estimator`` holds :class:`ParametricTSNE` and :func:`load` (no TensorFlow
until they train or load); ``_plan`` the rules of a fit's schedule and
hardware use; ``_network``, ``_sampler`` and ``_training`` the TensorFlow side.
"""

from ._plan import (
    AUTO_EPOCHS,
    AUTO_TRAINING_MULTIPLY_ADDS,
    MIN_BATCH_SIZE,
    TEACHER_EPOCHS,
    TEACHER_TRAINING_MULTIPLY_ADDS,
)
from .estimator import PARAMS_FILE, ParametricTSNE, load

__all__ = [
           "AUTO_EPOCHS",
           "AUTO_TRAINING_MULTIPLY_ADDS",
           "MIN_BATCH_SIZE",
           "PARAMS_FILE",
           "TEACHER_EPOCHS",
           "TEACHER_TRAINING_MULTIPLY_ADDS",
           "ParametricTSNE",
           "load",
]
