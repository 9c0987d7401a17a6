import os

import numpy as np
import pytest

from tsne_native._validation import (
    check_count,
    check_data,
    check_file,
    check_perplexity,
    read_text,
    resolve_n_jobs,
)


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


@pytest.mark.parametrize("kwargs, message", [
    ({"perplexity": 0}, "perplexity must be a finite number > 0; got 0.0"),
    ({"perplexity": 41, "largest": 39, "of": "40 points"},
     "perplexity=41 is too large for 40 points; the largest allowed is 39"),
    ({"perplexity": 12.5, "n_neighbors": 10},
     "perplexity=12.5 exceeds n_neighbors=10; use at least 13 neighbours"),
    ({"perplexity": 500, "largest": 159, "of": "160 points", "label": "--perplexity 500"},
     "--perplexity 500 is too large for 160 points"),
])
def test_the_perplexity_rule(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_perplexity(**kwargs)


def test_a_perplexity_within_every_limit_is_returned_as_a_float():
    assert check_perplexity(39, largest=39, of="40 points", n_neighbors=39) == 39.0


def test_counts_name_their_source():
    check_count(3, 3, "labels")
    with pytest.raises(ValueError, match=r"^--labels y.txt has 2 labels for 1,600 points$"):
        check_count(2, 1600, "labels", "--labels y.txt")
    with pytest.raises(ValueError, match=r"^5 thumbnails for 4 points$"):
        check_count(5, 4, "thumbnails")


def test_files_must_exist_and_hold_utf8(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        check_file(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="not a file"):
        check_file(tmp_path)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 3\)"):
        read_text(tmp_path / "latin1.txt")
    (tmp_path / "ok.txt").write_text("café", encoding="utf-8")
    assert read_text(tmp_path / "ok.txt") == "café"

