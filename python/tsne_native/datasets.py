"""Small datasets shipped with the package, for demos and tests offline."""

from __future__ import annotations

from importlib import resources

import numpy as np


def load_digits():
    """The 1,797 handwritten digits of the UCI "Optical Recognition of Handwritten
    Digits" set (as in scikit-learn's ``load_digits``; CC BY 4.0).

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype uint8
        8x8 grey images, row-major, values 0 (white) to 16 (ink).
    y : ndarray of shape (1797,), dtype uint8
        The digit shown, 0-9.
    """
    with resources.files(__package__).joinpath("data/digits.npz").open("rb") as f:
        with np.load(f) as archive:
            return archive["X"], archive["y"]
