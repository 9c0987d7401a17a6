"""Property tests of the public API with hypothesis (and of the native
inverted-file search behind the approximate method, whose clusters small data
never reaches through the API).

Every call must either return a well-formed result (finite, the documented
shape, normalized; exact neighbours equal a brute-force search) or raise
``ValueError``/``TypeError`` whose message names the argument at fault.  Any
other exception, a crash, a NaN or a hang is a bug.

Inputs cover random shapes (0 and 1 rows or columns, 1-D and 3-D), every dtype
numpy has (bool, all integer and float widths, complex, object, strings,
dates), awkward values (NaN, +-inf, 1e+-30, subnormals, all-equal rows, exact
duplicates, all-zero rows), memory layouts (Fortran order, negative strides,
strided and unaligned views, read-only arrays, memory maps, nested lists,
sparse matrices) and parameters at and beyond their limits.

A small oracle works out from the inputs alone which arguments are wrong: when
none is, the call must succeed; when some are, the error must name one of them.

The example counts come from the hypothesis profile (tests/conftest.py):
``HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py`` for a
longer run.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
import re
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import scipy.sparse

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, event, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tsne_native  # noqa: E402
from tsne_native._validation import check_data  # noqa: E402

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

# Data whose largest magnitude times sqrt(n_features) stays below this is
# always accepted; above it a ValueError ("too large ... rescale") is allowed.
ACCEPTED_MAGNITUDE = 1e150

REAL_DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
               np.uint32, np.uint64, np.float16, np.float32, np.float64, np.longdouble]
OTHER_DTYPES = [np.complex64, np.complex128, np.object_, np.str_, np.bytes_,
                "datetime64[s]", "timedelta64[s]"]
FLOAT_SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e-30, 1e-39, 5e-324,
                  1e-200, 1e200, 1.7e38, 65504.0, 1e-8, 1e8]
SCALES = [1.0, 1e-30, 1e-160, 1e-3, 1e3, 1e30, 1e100, 1e-40]
GOOD_LAYOUTS = ["C", "F", "reversed", "strided", "unaligned", "readonly", "memmap",
                "memmap_readonly", "list"]
BAD_LAYOUTS = ["sparse", "1-D", "3-D"]
SCRATCH = tempfile.TemporaryDirectory(prefix="tsne_properties_")
_files = itertools.count()

# The parametric test trains TensorFlow networks: far fewer examples.
PARAMETRIC_EXAMPLES = max(5, settings.default.max_examples // 50)


# -- inputs -------------------------------------------------------------------

@dataclass
class Array:
    """A generated input and what the oracle knows about its content."""
    value: object            # what the function receives
    kind: str                # numpy dtype kind of the content
    shape: tuple
    content: np.ndarray | None = None   # float64 copy of real content (None otherwise)
    description: list = field(default_factory=list)

    @property
    def real(self):
        return self.kind in "biuf"

    def finite(self):
        return self.content is None or bool(np.isfinite(self.content).all())

    def largest(self):
        if self.content is None or self.content.size == 0:
            return 0.0
        with np.errstate(invalid="ignore"):
            return float(np.nanmax(np.abs(self.content)))

    def too_large(self):
        columns = self.shape[-1] if self.shape else 1
        return self.largest() * math.sqrt(max(columns, 1)) >= ACCEPTED_MAGNITUDE


def _content(draw, rng, n, d, dtype):
    """An (n, d) array of dtype with awkward values and structure."""
    dtype = np.dtype(dtype)
    kind = dtype.kind
    structure = draw(st.sampled_from(["random", "random", "equal rows", "duplicates",
                                      "zero row", "small integers"]))
    scale = draw(st.sampled_from(SCALES))
    values = rng.normal(size=(n, d)) * scale
    if structure == "small integers":
        values = rng.integers(-3, 4, size=(n, d)).astype(np.float64)
    if n and structure == "equal rows":
        values[:] = values[0]
    if n > 1 and structure == "duplicates":
        values[rng.integers(0, n, size=n // 2 + 1)] = values[rng.integers(0, n)]
    if n and structure == "zero row":
        values[rng.integers(0, n)] = 0.0
    specials = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(FLOAT_SPECIALS)),
                        min_size=1, max_size=3)
    for position, special in draw(mostly(st.just([]), specials, ratio=2)):
        if values.size:
            values.flat[position % values.size] = special

    with np.errstate(all="ignore"):
        if kind == "b":
            array = values > 0
        elif kind in "iu":
            info = np.iinfo(dtype)
            if draw(st.booleans()):   # the full range of the type, extremes included
                array = rng.integers(info.min, info.max, size=(n, d), dtype=dtype,
                                     endpoint=True)
                if array.size:
                    array.flat[0] = draw(st.sampled_from([info.min, info.max, 0]))
            else:
                array = np.clip(np.nan_to_num(values), info.min, info.max).astype(dtype)
        elif kind == "c":
            array = (values + 1j * rng.normal(size=(n, d))).astype(dtype)
        elif kind == "O":
            array = values.astype(object)
        elif kind in "US":
            array = values.astype(dtype.kind + "24")
        elif kind in "mM":
            array = np.nan_to_num(values).clip(-1e9, 1e9).astype(np.int64).astype(dtype)
        else:
            array = values.astype(dtype)
    content = array.astype(np.float64) if kind in "biuf" else None
    return array, content, f"{structure}, scale {scale:g}"


def _layout(draw, array, layout):
    """``array``'s content in the memory layout (or container) named ``layout``."""
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "reversed":
        return array[::-1].copy()[::-1]
    if layout == "strided" and array.ndim == 2:
        wide = np.zeros((array.shape[0], 2 * array.shape[1]), dtype=array.dtype)
        wide[:, ::2] = array
        return wide[:, ::2]
    if layout == "unaligned" and array.dtype.itemsize > 1 and array.dtype.kind != "O":
        offset = draw(st.integers(1, array.dtype.itemsize - 1))
        buffer = np.zeros(array.nbytes + offset, dtype=np.uint8)
        view = buffer[offset:].view(array.dtype).reshape(array.shape)
        view[...] = array
        return view
    if layout == "readonly":
        array = array.copy()
        array.setflags(write=False)
        return array
    if layout.startswith("memmap") and array.size and array.dtype.kind != "O":
        path = os.path.join(SCRATCH.name, f"{next(_files)}.dat")
        mapped = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
        mapped[...] = array
        mapped.flush()
        if layout == "memmap_readonly":
            del mapped
            mapped = np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)
        os.unlink(path)   # the mapping stays valid
        return mapped
    if layout == "list":
        return array.tolist()
    return array


@st.composite
def mostly(draw, valid, junk, ratio=6):
    """``valid`` about ``ratio`` times as often as ``junk``.

    (``st.one_of`` picks its branches about equally often, and junk in every
    argument would leave few calls that get past the checks.)
    """
    good = draw(st.sampled_from([True] * ratio + [False]))
    return draw(valid if good else junk)


@st.composite
def arrays(draw, *, min_rows=2, max_rows=12, columns=(1, 2, 3, 5, 8), dtypes=None,
           layouts=None):
    """An :class:`Array` of random shape, dtype, values and memory layout.

    Mostly good data (a real dtype, at least ``min_rows`` rows, one column or
    more, finite values), sometimes anything.
    """
    n = draw(mostly(st.integers(min_rows, max(min_rows, max_rows)), st.integers(0, min_rows)))
    d = draw(mostly(st.sampled_from(columns), st.sampled_from([0, 1, 2])))
    dtype = draw(st.sampled_from(dtypes)) if dtypes else draw(mostly(
        st.one_of(st.sampled_from([np.float64, np.float32]), st.sampled_from(REAL_DTYPES)),
        st.sampled_from(OTHER_DTYPES), ratio=5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    array, content, what = _content(draw, rng, n, d, dtype)
    layout = draw(st.sampled_from(layouts) if layouts else mostly(
        st.sampled_from(GOOD_LAYOUTS), st.sampled_from(BAD_LAYOUTS), ratio=8))
    shape = (n, d)
    if layout == "1-D":
        array, shape = array.ravel(), (n * d,)
    elif layout == "3-D":
        array, shape = array[..., None], (n, d, 1)
    elif layout == "sparse":
        if array.dtype.kind in "biufc" and array.dtype != np.float16:
            array = scipy.sparse.csr_matrix(array)
        else:
            layout = "C"
    else:
        array = _layout(draw, array, layout)
    kind = np.dtype(dtype).kind
    if layout == "list":
        # Nested lists lose the dtype: numpy infers one (objects holding floats
        # become float64) and empty rows lose the column count.
        inferred = np.asarray(array)
        kind, shape = inferred.dtype.kind, inferred.shape
        content = inferred.astype(np.float64) if kind in "biuf" else None
    if content is not None and content.shape != shape:
        content = content.reshape(shape)
    result = Array(array, kind, shape, content, [f"{np.dtype(dtype)} {shape} {layout}", what])
    result.sparse = layout == "sparse"
    return result


def integers_and_junk(low, high):
    """Mostly integers in [low, high]; sometimes beyond, or of the wrong kind."""
    return mostly(st.one_of(st.integers(low, high), st.just(low), st.just(high)), st.one_of(
        st.integers(low - 2, high + 2),
        st.sampled_from([0, -1, 2**31, 2**63, -2**63, 10**30]),
        st.sampled_from([np.int64(1), np.uint8(2), np.int32(-1), np.int64(high)]),
        st.sampled_from([None, True, False, np.bool_(True), 1.0, 2.5, float("nan"), "3",
                         b"3", 1 + 0j, Fraction(2, 1), Decimal(2), [2], np.array([2])]),
    ))


def perplexities(high):
    """Mostly perplexities in (0, high]; sometimes beyond, or of the wrong kind."""
    return mostly(st.one_of(
        st.floats(min_value=0.1, max_value=max(0.1, high)),
        st.integers(1, max(1, int(high))),
        st.sampled_from([high, 1e-300, 5e-324, np.float32(min(1.5, high)), np.float64(high),
                         Fraction(1, 2)]),
    ), st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-2, int(high) + 3),
        st.sampled_from([0, high + 1e-9, np.int64(2), Decimal("1.5"), True, None, "30",
                         1 + 0j, float("inf"), float("nan")]),
    ))


N_JOBS = mostly(
    st.one_of(st.none(), st.integers(1, CORES + 2), st.integers(-CORES, -1),
              st.sampled_from([64, 10**6, 2**31, 2**63, 10**30, np.int64(2), np.int8(-1)])),
    st.one_of(st.integers(-CORES - 3, -CORES - 1),
              st.sampled_from([0, -2**63, 1.0, 2.5, True, "2", float("nan")])),
)
METHODS = mostly(st.sampled_from(["exact", "approx", "auto"]),
                 st.sampled_from(["fast", "", "EXACT", None, 1]))
METRICS = mostly(st.sampled_from(["euclidean", "cosine"]),
                 st.sampled_from(["l2", "Cosine", None, 0]))


# -- the oracle ----------------------------------------------------------------

def is_integer(value):
    return (isinstance(value, numbers.Integral)
            and not isinstance(value, (bool, np.bool_)))


def is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def n_jobs_problems(n_jobs):
    if n_jobs is None:
        return set()
    if not is_integer(n_jobs) or n_jobs == 0 or (n_jobs < 0 and CORES + 1 + n_jobs < 1):
        return {"n_jobs"}
    return set()


def data_problems(x: Array, name="X", *, min_rows=2, metric=None):
    """What is wrong with data ``x``: (required, allowed).

    ``required``: the names an error must quote, one of them at least (empty
    when ``x`` is good data).  ``allowed``: names of an error that may or may
    not come (values near the size limit).
    """
    names = {name}
    if getattr(x, "sparse", False):
        return names | {"sparse", "dense"}, set()
    if not x.real or len(x.shape) != 2 or x.shape[0] < min_rows or x.shape[1] < 1:
        return names, set()
    if not x.finite():
        return names, set()
    problems = set()
    if metric == "cosine" and (x.content == 0).all(axis=1).any():
        problems |= {"cosine", "zero"}
    return problems, (names if x.too_large() else set())


def has_tiny_nonzero_row(x: Array, metric):
    """Whether cosine distances of ``x`` meet the known bug of tiny rows.

    A float64 row that is not all zero but whose squared norm underflows
    (every value below about 1e-154) is taken for an all-zero row, or gets an
    imprecise norm: csrc/knn_common.hpp squares the values unscaled.  Such inputs are
    discarded here (hypothesis counts them as invalid, not as passes);
    ``test_cosine_of_a_tiny_nonzero_row`` below shows the failure.
    """
    if metric != "cosine" or x.content is None or x.content.ndim != 2 or not x.finite():
        return False
    with np.errstate(under="ignore", over="ignore"):
        squared = (x.content ** 2).sum(axis=1)
    return bool(((squared < 1e-290) & (x.content != 0).any(axis=1)).any())


def projection_overflows(x: Array, method):
    """Whether ``x`` meets the known bug of the approximate search with large values.

    The approximate search (more than 128 features) projects the data to
    float32, whose squared norms overflow for values from about 2e17 on (data
    that check_data searches in float64 for that reason): the native search
    then rejects valid data as "not finite".  Discarded here like
    :func:`has_tiny_nonzero_row`; ``test_approx_search_of_large_values`` below
    shows the failure.
    """
    if len(x.shape) != 2 or x.shape[1] <= 128 or method not in ("approx", "auto"):
        return False
    if method == "auto" and x.shape[0] < 20_000:
        return False
    limit = float(np.finfo(np.float32).max) / 16
    return 2 * x.largest() > math.sqrt(limit / x.shape[1])


def expect(problems, call, *, allowed=frozenset()):
    """Run ``call()``: succeed if ``problems`` is empty, else raise naming one of them.

    ``allowed`` lists names whose error is acceptable (problems the oracle may
    not see exactly, e.g. values near a size limit) without being required.
    Returns the result, or None after an expected error.
    """
    note(f"expected problems: {sorted(problems)}; allowed: {sorted(allowed)}")
    try:
        result = call()
    except (ValueError, TypeError) as error:
        message = str(error)
        note(f"raised {type(error).__name__}: {message}")
        event(f"outcome: {type(error).__name__}")
        names = set(problems) | set(allowed)
        assert names, f"valid input rejected: {type(error).__name__}: {message}"
        assert any(re.search(rf"(?<![A-Za-z_]){re.escape(n)}", message) for n in names), (
            f"the message does not name any of {sorted(names)}: {message}")
        return None
    assert not problems, f"no error although {sorted(problems)} are wrong"
    event("outcome: returned")
    return result


def brute_force(data, metric):
    if metric == "cosine":
        unit = data / np.linalg.norm(data, axis=1, keepdims=True)
        D = np.maximum(0.0, 1.0 - unit @ unit.T)
    else:
        D = np.sqrt(((data[:, None, :] - data[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    return D


def check_neighbors(x: Array, k, metric, method, result):
    indices, distances = result
    n = x.shape[0]
    assert indices.shape == (n, k) and indices.dtype == np.int64
    assert distances.shape == (n, k) and distances.dtype == np.float64
    assert ((indices >= 0) & (indices < n)).all()
    assert (indices != np.arange(n)[:, None]).all(), "a point is its own neighbour"
    assert all(len(set(row)) == k for row in indices.tolist()), "a neighbour listed twice"
    assert np.isfinite(distances).all() and (distances >= 0).all()
    assert (np.diff(distances, axis=1) >= 0).all(), "distances not sorted"
    ties = np.diff(distances, axis=1) == 0
    assert (np.diff(indices, axis=1)[ties] > 0).all(), "ties not broken by smaller index"

    searched = check_data(x.value)
    D = brute_force(searched.astype(np.float64), metric)
    listed = np.take_along_axis(D, indices, axis=1)
    tolerance = dict(rtol=1e-9, atol=1e-12 if metric == "cosine" else 0.0)
    if metric == "euclidean" and searched.dtype == np.float32:
        # Data far from the origin is centered in float32 before the search
        # (neighbors.py, _centered_if_offset), and the distances are those of
        # the rounded, centered coordinates: exact to float32 rounding of the
        # centered values, not of the data as given.
        centered = searched - searched.mean(axis=0, dtype=np.float64)
        tolerance["atol"] = 4 * float(np.finfo(np.float32).eps) * math.sqrt(
            searched.shape[1]) * float(np.abs(centered).max())
    np.testing.assert_allclose(distances, listed, **tolerance,
                               err_msg="distances are not those of the listed neighbours")
    nearest = np.sort(D, axis=1)[:, :k]
    if method == "exact" or (method == "auto" and n < 20_000):
        np.testing.assert_allclose(distances, nearest, **tolerance,
                                   err_msg="exact search missed a nearer neighbour")
    else:
        assert (distances >= nearest * (1 - 1e-9) - tolerance["atol"]).all()


def check_joint(P, n, k):
    assert isinstance(P, scipy.sparse.csr_matrix)
    assert P.shape == (n, n) and P.dtype == np.float64
    assert np.isfinite(P.data).all() and (P.data >= 0).all()
    assert abs(P.sum() - 1.0) <= 1e-12
    assert abs(P - P.T).max() == 0 if P.nnz else True, "P is not symmetric"
    assert (P.diagonal() == 0).all()
    assert P.has_sorted_indices
    for row in range(n):
        assert (np.diff(P.indices[P.indptr[row]:P.indptr[row + 1]]) > 0).all()
    assert P.nnz <= 2 * n * k


def entropies(conditional):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(conditional > 0, conditional * np.log(conditional), 0.0).sum(axis=1)


def check_calibration(distances, perplexity, result):
    conditional, sigmas = result
    n, k = distances.shape
    assert conditional.shape == (n, k) and conditional.dtype == np.float64
    assert sigmas.shape == (n,)
    assert np.isfinite(conditional).all(), "NaN or infinity in the conditional probabilities"
    assert (conditional >= 0).all()
    np.testing.assert_allclose(conditional.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert not np.isnan(sigmas).any() and (sigmas >= 0).all()
    # Where the target entropy is reachable, it is reached.
    squared = distances.astype(np.float64) ** 2
    ties = (squared == squared.min(axis=1, keepdims=True)).sum(axis=1)
    target = math.log(perplexity)
    reachable = (np.log(ties) < target - 1e-8) & (target < math.log(k) - 1e-8)
    reachable &= np.isfinite(squared).all(axis=1)
    error = np.abs(entropies(conditional) - target)[reachable]
    assert (error <= 1e-5).all(), f"entropy misses log(perplexity) by {error.max():g}"


# -- the properties ------------------------------------------------------------

@given(x=arrays(columns=(1, 2, 3, 5, 8, 130)), k=st.data(), method=METHODS,
       metric=METRICS, n_jobs=N_JOBS)
def test_nearest_neighbors(x, k, method, metric, n_jobs):
    note("; ".join(x.description))
    n = x.shape[0] if len(x.shape) else 0
    k = k.draw(integers_and_junk(1, max(1, n - 1)), label="k")
    problems = n_jobs_problems(n_jobs)
    if method not in ("exact", "approx", "auto"):
        problems.add("method")
    if metric not in ("euclidean", "cosine"):
        problems.add("metric")
    assume(not has_tiny_nonzero_row(x, metric) and not projection_overflows(x, method))
    required, allowed = data_problems(x, metric=metric)
    problems |= required
    if not is_integer(k) or not 1 <= k <= n - 1:
        problems.add("k")
    result = expect(problems, lambda: tsne_native.nearest_neighbors(
        x.value, k, method=method, metric=metric, n_jobs=n_jobs), allowed=allowed)
    if result is not None:
        check_neighbors(x, int(k), metric, method, result)


@given(distances=arrays(min_rows=1, columns=(1, 2, 3, 5, 8, 40)), perplexity=st.data(),
       n_jobs=N_JOBS)
def test_calibrate(distances, perplexity, n_jobs):
    note("; ".join(distances.description))
    k = distances.shape[1] if len(distances.shape) == 2 else 1
    perplexity = perplexity.draw(perplexities(k), label="perplexity")
    required, allowed = data_problems(distances, "distances", min_rows=1)
    problems = n_jobs_problems(n_jobs) | required
    if distances.content is not None and (distances.content < 0).any():
        problems |= {"distances", "non-negative"}
    if (not is_real(perplexity) or not math.isfinite(perplexity) or perplexity <= 0
            or perplexity > k):
        problems.add("perplexity")
    result = expect(problems, lambda: tsne_native.calibrate(distances.value, perplexity,
                                                            n_jobs=n_jobs), allowed=allowed)
    if result is not None:
        searched = check_data(distances.value, min_rows=1).astype(np.float64)
        check_calibration(searched, float(perplexity), result)


@st.composite
def neighbor_graphs(draw, n=None):
    """A (indices, distances) pair, valid or broken in one of many ways, and its problems.

    Returns (knn, n, k, problems, flaw); ``n`` points unless ``n`` is None.
    """
    if n is None:
        n = draw(mostly(st.integers(2, 10), st.integers(0, 1)))
    k = draw(mostly(st.integers(1, max(1, n - 1)), st.just(0)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = min(k, max(n - 1, 0))
    indices = np.array([rng.permutation(np.delete(np.arange(n), i))[:k] for i in range(n)],
                       dtype=np.int64).reshape(n, k)
    distances = np.sort(rng.random((n, k)) * draw(st.sampled_from(SCALES)), axis=1)
    flaw = draw(mostly(
        st.sampled_from(["none", "uint8 indices", "list", "unaligned", "fortran",
                         "zero distances"]),
        st.sampled_from(["self", "repeat", "out of range", "negative index", "float indices",
                         "bool indices", "object indices", "negative distance",
                         "nan distance", "huge distance", "shape mismatch", "1-D",
                         "not a pair", "triple", "dict"]), ratio=3))
    problems = set() if n >= 2 and k >= 1 else {"knn"}
    knn_names = {"knn", "neighbour"}
    i = draw(st.integers(0, max(0, n - 1)))
    if flaw == "self" and indices.size:
        indices[i, 0] = i
        problems |= knn_names
    elif flaw == "repeat" and k >= 2:
        indices[i, 1] = indices[i, 0]
        problems |= knn_names
    elif flaw == "out of range" and indices.size:
        indices[i, -1] = draw(st.sampled_from([n, n + 5, 2**40]))
        problems |= knn_names
    elif flaw == "negative index" and indices.size:
        indices[i, 0] = -1
        problems |= knn_names
    elif flaw == "float indices":
        indices = indices.astype(np.float64)
        problems |= knn_names
    elif flaw == "bool indices":
        indices = indices.astype(bool)
        problems |= knn_names
    elif flaw == "uint8 indices":
        indices = indices.astype(np.uint8)
    elif flaw == "object indices":
        indices = indices.astype(object)
        problems |= knn_names
    elif flaw == "negative distance" and distances.size:
        distances[i, 0] = -1e-9
        problems |= knn_names | {"distances", "non-negative"}
    elif flaw == "nan distance" and distances.size:
        distances[i, -1] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        problems |= knn_names | {"distances"}
    elif flaw == "huge distance" and distances.size:
        distances[i, -1] = 1e300
        problems |= knn_names | {"distances"}
    elif flaw == "zero distances":
        distances[:] = 0.0
    elif flaw == "shape mismatch":
        distances = distances[:, :-1] if k else distances[:-1]
        problems |= knn_names
    elif flaw == "1-D":
        indices, distances = indices.ravel(), distances.ravel()
        problems |= knn_names
    elif flaw == "unaligned":
        buffer = np.zeros(distances.nbytes + 3, dtype=np.uint8)
        view = buffer[3:].view(np.float64).reshape(distances.shape)
        view[...] = distances
        distances = view
    elif flaw == "fortran":
        indices, distances = np.asfortranarray(indices), np.asfortranarray(distances)
    knn = (indices, distances)
    if flaw == "not a pair":
        knn, problems = (indices,), problems | knn_names
    elif flaw == "triple":
        knn, problems = (indices, distances, distances), problems | knn_names
    elif flaw == "dict":
        knn, problems = {"indices": indices, "distances": distances}, problems | knn_names
    elif flaw == "list":
        knn = [indices.tolist(), distances.tolist()]
    return knn, n, k, problems, flaw


@given(x=arrays(max_rows=10), source=mostly(st.sampled_from(["X", "knn", "X and knn"]),
                                           st.just("neither"), ratio=8),
       more=st.data(), method=METHODS, metric=METRICS, n_jobs=N_JOBS)
def test_affinities(x, source, more, method, metric, n_jobs):
    use_x, use_knn = "X" in source, "knn" in source
    # Precomputed neighbours, usually for the rows of X when both are given.
    rows = x.shape[0] if use_x and len(x.shape) == 2 and more.draw(mostly(
        st.just(True), st.just(False)), label="knn for X") else None
    graph = more.draw(neighbor_graphs(rows), label="knn")
    knn, graph_n, graph_k, graph_problems, flaw = graph
    note(f"X: {x.description if use_x else None}; knn: {flaw if use_knn else None}")
    n = x.shape[0] if use_x and len(x.shape) else graph_n
    perplexity = more.draw(perplexities(max(n - 1, 1)), label="perplexity")
    n_neighbors = more.draw(st.one_of(st.none(), integers_and_junk(1, max(1, n - 1))),
                            label="n_neighbors")

    problems, allowed = n_jobs_problems(n_jobs), set()
    if method not in ("exact", "approx", "auto"):
        problems.add("method")
    if metric not in ("euclidean", "cosine"):
        problems.add("metric")
    if use_x:
        assume(use_knn or not (has_tiny_nonzero_row(x, metric)
                               or projection_overflows(x, method)))
        required, allowed = data_problems(x, metric=None if use_knn else metric)
        problems |= required
    elif not use_knn:
        problems |= {"X", "knn"}
    if use_knn:
        if flaw == "repeat" and is_integer(n_neighbors) and n_neighbors == 1:
            graph_problems = set()   # the repeat in column 1 is left out
        problems |= graph_problems
        if use_x and x.shape[:1] != (graph_n,):
            problems |= {"knn"}
    n_ok = not problems - {"n_jobs", "method", "metric", "perplexity"}
    if (not is_real(perplexity) or not math.isfinite(perplexity) or perplexity <= 0
            or perplexity > n - 1):
        problems.add("perplexity")
    limit = graph_k if use_knn else max(n - 1, 0)
    if n_neighbors is not None and (not is_integer(n_neighbors)
                                    or not 1 <= n_neighbors <= limit):
        problems.add("n_neighbors")
    if "n_neighbors" not in problems and "perplexity" not in problems and n_ok:
        k = limit if use_knn else min(n - 1, max(1, int(3 * perplexity)))
        k = k if n_neighbors is None else int(n_neighbors)
        if perplexity > k:
            problems |= {"perplexity", "n_neighbors"}

    def call():
        return tsne_native.affinities(x.value if use_x else None, perplexity,
                                      n_neighbors=n_neighbors, knn=knn if use_knn else None,
                                      method=method, metric=metric, n_jobs=n_jobs)

    P = expect(problems, call, allowed=allowed)
    if P is not None:
        k = graph_k if use_knn else min(n - 1, max(1, int(3 * perplexity)))
        check_joint(P, n, k if n_neighbors is None else int(n_neighbors))


@pytest.fixture(scope="module")
def needs_tensorflow():
    pytest.importorskip("tensorflow")


@settings(max_examples=PARAMETRIC_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(x=arrays(max_rows=24, columns=(1, 3), layouts=["C", "F", "reversed", "unaligned"],
                dtypes=[np.float64, np.float32, np.float16, np.int8, np.uint64, np.bool_,
                        np.complex64]),
       new=arrays(min_rows=1, max_rows=5, columns=(3,), layouts=["C", "F", "list"]),
       n_components=mostly(st.sampled_from([2, 3, 1]), st.sampled_from([0, 2.0])),
       perplexity=mostly(st.sampled_from([2.0, 5, 0.5, np.float32(1.5)]),
                         st.sampled_from([30, -1.0, float("nan")])),
       batch_size=mostly(st.sampled_from([8, 9, 16, 1000]),
                         st.sampled_from([7, 4, 2, 1, 0, -8, 8.0])),
       n_jobs=mostly(st.sampled_from([None, 1, -1]), st.just(0)))
def test_parametric_tsne(needs_tensorflow, x, new, n_components, perplexity, batch_size,
                         n_jobs):
    note("; ".join(x.description))
    model = tsne_native.ParametricTSNE(n_components, perplexity, hidden_layers=(8,),
                                       n_epochs=1, batch_size=batch_size, n_jobs=n_jobs,
                                       random_state=0)
    n = x.shape[0]
    required, allowed = data_problems(x)
    problems = n_jobs_problems(n_jobs) | required
    if not is_integer(n_components) or n_components < 1:
        problems.add("n_components")
    if not is_integer(batch_size) or batch_size < 8:
        problems.add("batch_size")
    if not is_real(perplexity) or not math.isfinite(perplexity) or not 0 < perplexity <= n - 1:
        problems.add("perplexity")
    # Values beyond float32's range cannot enter the network.
    if x.content is not None and x.largest() > 3.5e38:
        problems |= {"X", "float32"}
    elif x.content is not None and x.largest() > 1e37:
        allowed |= {"X"}
    fitted = expect(problems, lambda: model.fit(x.value), allowed=allowed)
    if fitted is None:
        return
    assert fitted.embedding_.shape == (n, n_components)
    assert fitted.embedding_.dtype == np.float32
    assert np.isfinite(fitted.embedding_).all(), "NaN in the embedding"

    transform_problems, allowed = data_problems(new, min_rows=1)
    if new.shape[1:] != (x.shape[1],):
        transform_problems |= {"X", "features"}
    if new.content is not None and new.largest() > 3.5e38:
        transform_problems |= {"X", "float32"}
    elif new.content is not None and new.largest() > 1e37:
        allowed |= {"X"}
    embedded = expect(transform_problems, lambda: fitted.transform(new.value), allowed=allowed)
    if embedded is not None:
        assert embedded.shape == (new.shape[0], n_components)
        assert np.isfinite(embedded).all(), "NaN in transform's output"


# -- regressions found by the properties above ---------------------------------

@given(data=st.data())
def test_probed_knn_finds_the_nearest_rows_of_the_probed_clusters(data):
    """The inverted-file search on what the approximate search gives it: float32
    points of moderate size (a projection scaled to at most 1), any probes
    (repeats, empty clusters), any list of queries (repeats, a subset)."""
    from hypothesis.extra import numpy as hnp

    from conftest import probed_brute_force
    from tsne_native import _core

    n = data.draw(st.integers(2, 30), label="n")
    d = data.draw(st.integers(1, 5), label="d")
    m = data.draw(st.integers(1, 8), label="m")
    p = data.draw(st.integers(1, 4), label="p")
    c = data.draw(st.integers(1, n - 1), label="c")
    grid = st.sampled_from([-1.0, -0.5, 0.0, 0.25, 1.0]) | st.floats(-1, 1, width=32)
    x = data.draw(hnp.arrays(np.float32, (n, d), elements=grid), label="x")
    probes = data.draw(hnp.arrays(np.int64, (n, p), elements=st.integers(0, m - 1)),
                       label="probes")
    queries = data.draw(hnp.arrays(np.int64, st.integers(0, 2 * n),
                                   elements=st.integers(0, n - 1)), label="queries")
    n_jobs = data.draw(st.sampled_from([1, 2, 3]), label="n_jobs")
    found = _core.probed_knn(x, probes[:, 0], m, queries, probes[queries], c, n_jobs,
                             bfloat16=False)
    assert found.shape == (len(queries), c)
    points = x.astype(np.float64)
    for query, row in zip(queries, found):
        allowed, expected = probed_brute_force(x, probes, query, c)
        listed = row[row >= 0]
        assert (row[len(listed):] == -1).all() and len(listed) == len(expected)
        assert np.isin(listed, allowed).all() and len(np.unique(listed)) == len(listed)
        got = np.sort(((points[listed] - points[query]) ** 2).sum(axis=1))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_float32_rows_of_subnormal_values_with_cosine():
    # 1 / norm overflowed float32 in the cosine ranking keys: "distances of row
    # 0 are not finite (values too large?)".  Such data is now searched in float64.
    X = np.array([[1.2572e-41], [-0.5], [3.0]], dtype=np.float32)
    indices, distances = tsne_native.nearest_neighbors(X, 1, metric="cosine")
    assert indices.ravel().tolist() == [2, 0, 0]
    np.testing.assert_array_equal(distances.ravel(), [0.0, 2.0, 0.0])


def test_calibrate_tiny_distances():
    # Squared distances below ~1e-308 made beta = 1 / mean infinite: NaN rows.
    conditional, sigmas = tsne_native.calibrate(np.array([[0.0, 1e-160, 2e-160]]), 1.5)
    reference, _ = tsne_native.calibrate(np.array([[0.0, 1.0, 2.0]]), 1.5)
    np.testing.assert_allclose(conditional, reference, rtol=1e-12)
    assert np.isfinite(sigmas).all()


def test_calibrate_distances_over_sixty_orders_of_magnitude():
    # Bisection halved a bracket from 1e9 to 1e230 and ran out of steps:
    # the entropy missed log(perplexity) by log 2.
    distances = np.array([[0.0, 2.16e-30, 1e30, 1.08e-30, 5.12e-31]])
    conditional, _ = tsne_native.calibrate(distances, 2.0)
    positive = conditional[conditional > 0]
    assert abs(-(positive * np.log(positive)).sum() - np.log(2.0)) <= 1e-8


def test_unaligned_views_are_copied_before_the_native_code():
    buffer = np.zeros(8 * 12 + 1, dtype=np.uint8)
    X = buffer[1:].view(np.float64).reshape(4, 3)
    X[...] = np.arange(12.0).reshape(4, 3) ** 1.5
    assert not X.flags.aligned
    assert check_data(X).flags.aligned
    indices, _ = tsne_native.nearest_neighbors(X, 2)
    assert indices[0].tolist() == [1, 2]


def test_huge_n_jobs_uses_the_available_cores():
    # libgomp aborts the process when it cannot start the threads asked for;
    # 2**31 did not even fit the native int ("incompatible function arguments").
    X = np.random.default_rng(0).normal(size=(30, 3))
    expected = tsne_native.nearest_neighbors(X, 3, n_jobs=1)
    for n_jobs in (10**6, 2**31, 2**63):
        got = tsne_native.nearest_neighbors(X, 3, n_jobs=n_jobs)
        assert all((a == b).all() for a, b in zip(got, expected))
