import os

import numpy as np
import pytest

from tsne_native._validation import check_data, resolve_n_jobs


def usable_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_n_jobs_conventions():
    cores = usable_cores()
    assert resolve_n_jobs(None) == cores
    assert resolve_n_jobs(-1) == cores
    assert resolve_n_jobs(1) == 1
    assert resolve_n_jobs(3) == min(3, cores)
    # More threads than cores are never started.
    assert resolve_n_jobs(10**6) == resolve_n_jobs(2**63) == cores
    if cores > 1:
        assert resolve_n_jobs(-2) == cores - 1


@pytest.mark.parametrize("value, error", [(0, ValueError), (-10_000, ValueError),
                                          (1.5, TypeError), ("2", TypeError), (True, TypeError)])
def test_bad_n_jobs(value, error):
    with pytest.raises(error, match="n_jobs"):
        resolve_n_jobs(value)


def test_float32_and_float64_pass_through_without_copy():
    for dtype in (np.float32, np.float64):
        X = np.ones((4, 3), dtype=dtype)
        assert check_data(X) is X


@pytest.mark.parametrize("dtype, expected", [
    (np.uint8, np.float32), (np.int64, np.float32), (np.bool_, np.float32),
    (np.float16, np.float32), (np.float32, np.float32), (np.float64, np.float64),
])
def test_conversion_dtypes(dtype, expected):
    X = check_data(np.ones((4, 3), dtype=dtype))
    assert X.dtype == expected and X.flags.c_contiguous


def test_float32_data_too_large_for_float32_squares_is_promoted():
    X = check_data(np.full((4, 3), 1e30, dtype=np.float32))
    assert X.dtype == np.float64


def test_names_the_argument():
    with pytest.raises(ValueError, match="distances must be 2-D"):
        check_data(np.ones(3), name="distances")
