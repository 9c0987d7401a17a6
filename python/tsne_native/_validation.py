"""Input checks shared by the public functions.

Every check raises ``ValueError`` (or ``TypeError`` for a wrong kind of object)
with a message that names the argument and quotes the bad value, before any
native code runs.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np

# Rows checked at a time for NaN/inf, so the check needs little extra memory.
_CHECK_CHUNK_ELEMENTS = 1 << 22


def check_data(X, *, name: str = "X", min_rows: int = 2) -> np.ndarray:
    """Validate a data matrix and convert it once to a C-contiguous float array.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        Real numbers of any integer, boolean or floating dtype, in any memory
        layout (Fortran order, strided views and memory maps included).
    name : str
        The argument's name, quoted in error messages.
    min_rows : int
        The fewest rows accepted.

    Returns
    -------
    ndarray of shape (n_samples, n_features), dtype float32 or float64
        ``X`` itself when it is already aligned, C-contiguous float32/float64,
        otherwise one converted copy.  float64 stays float64; integer,
        boolean, float16 data become float32, unless their magnitude needs
        float64 (squares beyond float32's range, or float32 data holding
        subnormal values).
    """
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError(f"{name} must be a dense array; got a sparse matrix "
                        f"(convert it with {name}.toarray())")
    array = np.asarray(X)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers; got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {array.shape}")
    n_rows, n_columns = array.shape
    if n_rows < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows; got {n_rows}")
    if n_columns < 1:
        raise ValueError(f"{name} needs at least 1 feature (column); got shape {array.shape}")

    largest, subnormal = _magnitudes(array, name)
    dtype = np.float64 if array.dtype.kind == "f" and array.dtype.itemsize > 4 else np.float32
    if dtype == np.float32 and (subnormal or not _squares_fit(largest, n_columns, np.float32)):
        # float32 cannot represent the squares of these values (their sums
        # overflow), or the reciprocal norms of rows this small (1 / 1e-39).
        dtype = np.float64
    if not _squares_fit(largest, n_columns, np.float64):
        raise ValueError(f"{name} holds values up to {largest:.3g}, too large for squared "
                         f"distances to be represented; rescale {name}")
    result = np.ascontiguousarray(array, dtype=dtype)
    if not result.flags.aligned:
        # A view at an odd byte offset (np.frombuffer(..., offset=1), a field of
        # a packed record): the native core reads whole, aligned numbers.
        result = result.copy()
    return result


def _magnitudes(array: np.ndarray, name: str) -> tuple[float, bool]:
    """The largest absolute value, and whether float32 data holds subnormal values.

    Raises if some value is NaN or infinite.
    """
    if array.size == 0:
        return 0.0, False
    if array.dtype.kind in "biu":
        return float(max(abs(int(array.min())), abs(int(array.max())))), False
    rows_per_chunk = max(1, _CHECK_CHUNK_ELEMENTS // array.shape[1])
    largest, subnormal = 0.0, False
    smallest_normal = np.finfo(np.float32).tiny
    for start in range(0, array.shape[0], rows_per_chunk):
        chunk = array[start:start + rows_per_chunk]
        finite = np.isfinite(chunk)
        if not finite.all():
            row = start + int(np.flatnonzero(~finite.all(axis=1))[0])
            raise ValueError(f"{name} contains NaN or infinity (first in row {row})")
        magnitude = np.abs(chunk)
        largest = max(largest, float(magnitude.max()))
        if array.dtype == np.float32 and not subnormal:
            subnormal = bool(((magnitude < smallest_normal) & (magnitude > 0)).any())
    return largest, subnormal


def _squares_fit(largest: float, n_columns: int, dtype) -> bool:
    """Whether sums of n_columns squared differences of values this large fit in dtype."""
    limit = float(np.finfo(dtype).max) / 16
    return 2 * largest <= np.sqrt(limit / n_columns)


def check_memory(needed: int, what: str) -> None:
    """Raise ValueError when ``what`` needs more than the memory available now.

    ``needed`` is an estimate in bytes; the check is skipped where the
    available memory is unknown (no ``/proc/meminfo``).
    """
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(f"{what} needs about {_format_bytes(needed)} of memory beyond the "
                         f"data, but only {_format_bytes(available)} are available")


def _format_bytes(count: int) -> str:
    """``count`` bytes in MB or GB, e.g. "3.2 GB"."""
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux's MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_integer(value, name: str, *, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int after checking it lies in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bounds}; got {value}")
    return value


def check_positive_number(value, name: str, *, allow_zero: bool = False) -> float:
    """``value`` as a float, checked finite and > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0; "
                         f"got {value}")
    return value


def check_choice(value, name: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` after checking it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def resolve_n_jobs(n_jobs) -> int:
    """Number of threads for ``n_jobs``.

    ``None`` means every usable core; a negative value ``-m`` means all cores
    but ``m - 1`` (so -1 is all cores), as in scikit-learn and openTSNE.  More
    threads than usable cores are never started: they cannot make the work
    faster (results do not depend on the count), and OpenMP aborts the process
    when it cannot create them all (``n_jobs=10**6``).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if n_jobs is None:
        return cores
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"n_jobs must be an integer or None; got {n_jobs!r}")
    if n_jobs == 0:
        raise ValueError("n_jobs must not be 0; use None or -1 for all cores, or a positive count")
    threads = int(n_jobs) if n_jobs > 0 else cores + 1 + int(n_jobs)
    if threads < 1:
        raise ValueError(f"n_jobs={n_jobs} leaves no thread on a machine with {cores} cores")
    return min(threads, cores)


def check_perplexity(perplexity, *, largest=None, of="", n_neighbors=None, label=None) -> float:
    """Return ``perplexity`` as a float after checking it against every limit given.

    The rule, in one place: a perplexity is a finite number > 0, at most the
    number of other points (or of the given neighbours of each point:
    ``largest``), and at most ``n_neighbors`` when the caller chose that.

    Parameters
    ----------
    perplexity : float
    largest : int, optional
        The largest perplexity the data allows (``n_samples - 1``, or ``k``
        for distances to ``k`` neighbours).
    of : str
        What ``largest`` counts, for the message ("40 points").
    n_neighbors : int, optional
        Neighbours per point that P will have; the perplexity must not exceed it.
    label : str, optional
        How the message names the value (default ``perplexity=<value>``; the
        command line says ``--perplexity <value>``).
    """
    perplexity = check_positive_number(perplexity, "perplexity")
    label = label or f"perplexity={perplexity:g}"
    if largest is not None and perplexity > largest:
        raise ValueError(f"{label} is too large for {of}; the largest allowed is {largest:,}")
    if n_neighbors is not None and perplexity > n_neighbors:
        raise ValueError(f"{label} exceeds n_neighbors={n_neighbors}; use at least "
                         f"{math.ceil(perplexity)} neighbours or a smaller perplexity")
    return perplexity


def check_count(count: int, n_points: int, noun: str, where: str | None = None) -> None:
    """Raise ValueError unless there are as many ``noun`` (labels, rows, images) as points.

    ``where`` names their source ("--labels topics.txt"): "<where> has 2
    labels for 160 points".
    """
    if count != n_points:
        source = f"{where} has " if where else ""
        raise ValueError(f"{source}{count:,} {noun} for {n_points:,} points")


def check_neighbor_graph(knn, n_samples=None):
    """Validate precomputed neighbours ``(indices, distances)``.

    Parameters
    ----------
    knn : tuple of two array_like of shape (n_samples, k)
        Integer neighbour indices and their non-negative, finite distances.
    n_samples : int or None
        The number of points the graph must describe, when known.

    Returns
    -------
    indices : ndarray of shape (n_samples, k), dtype int64
    distances : ndarray of shape (n_samples, k), dtype float64
    """
    if not isinstance(knn, (tuple, list)) or len(knn) != 2:
        raise TypeError("knn must be a pair (indices, distances) as returned by "
                        f"nearest_neighbors; got {type(knn).__name__}")
    indices, distances = (np.asarray(a) for a in knn)
    if indices.dtype.kind not in "iu":
        raise ValueError(f"knn indices must be integers; got dtype {indices.dtype}")
    if indices.ndim != 2 or indices.shape[1] < 1:
        raise ValueError(f"knn indices must be 2-D (n_samples, k); got shape {indices.shape}")
    if distances.shape != indices.shape:
        raise ValueError(f"knn distances have shape {distances.shape} but indices have "
                         f"shape {indices.shape}")
    distances = check_distances(distances, name="knn distances")
    n = indices.shape[0]
    if n_samples is not None and n != n_samples:
        raise ValueError(f"knn describes {n} points but X has {n_samples} rows")
    if n < 2:
        raise ValueError(f"knn needs at least 2 points; got {n}")
    if indices.min() < 0 or indices.max() >= n:
        raise ValueError(f"knn indices must lie in [0, {n - 1}]; got values from "
                         f"{indices.min()} to {indices.max()}")
    return np.ascontiguousarray(indices, dtype=np.int64), distances


def check_distances(distances, *, name):
    """Validate neighbour distances: 2-D, finite, non-negative.

    Returns
    -------
    ndarray of shape (n_samples, k), dtype float64, C-contiguous
    """
    distances = check_data(distances, name=name, min_rows=1)
    negative = distances < 0
    if negative.any():
        row = int(np.flatnonzero(negative.any(axis=1))[0])
        raise ValueError(f"{name} must be non-negative (row {row} is not)")
    return np.ascontiguousarray(distances, dtype=np.float64)


def check_file(path) -> Path:
    """``path`` as a Path; FileNotFoundError when missing, ValueError when not a file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    return path


def read_text(path) -> str:
    """The UTF-8 text of a checked file; ValueError naming the first undecodable byte."""
    path = check_file(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start})") from None
