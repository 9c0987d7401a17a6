import numpy as np

from tsne_native.datasets import load_digits


def test_digits_shape_and_labels():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.uint8
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    assert X.max() == 16 and X.min() == 0
