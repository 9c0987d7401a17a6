"""Native core of tsne_native (use the functions of tsne_native instead).

Typed stub of python/bindings.cpp.  Each array argument is converted to the
dtype noted beside it, in C order, unless it already is so.  Bad sizes or
values raise ValueError; Ctrl-C during a call raises KeyboardInterrupt.
Results do not depend on n_threads.
"""

from typing import ClassVar

import numpy as np
import numpy.typing as npt

class Metric:
    """The distance of the kNN searches: euclidean, or cosine (1 - cos(angle))."""

    __members__: ClassVar[dict[str, Metric]]
    euclidean: ClassVar[Metric]
    cosine: ClassVar[Metric]
    def __init__(self, value: int) -> None: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    def __index__(self) -> int: ...
    def __int__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

def has_openmp() -> bool:
    """Whether the core was built with OpenMP (without it, n_threads is ignored)."""

def exact_knn(
    x: npt.ArrayLike,  # (n, d): C-order float64 is searched in float64, all else in float32
    k: int,  # 1 <= k < n
    metric: Metric,
    n_threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Each row's k nearest other rows: indices (n, k) int64, distances (n, k) float64."""

def exact_knn_of_rows(
    x: npt.ArrayLike,  # (n, d): C-order float64 is searched in float64, all else in float32
    rows: npt.ArrayLike,  # (n_rows,) int64 row numbers in [0, n)
    k: int,  # 1 <= k < n
    metric: Metric,
    n_threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The k nearest other rows of some rows: indices (n_rows, k) int64, distances float64."""

def rerank_knn(
    x: npt.ArrayLike,  # (n, d): distances from C-order float64 as is, all else as float32
    candidates: npt.ArrayLike,  # (n, c) int64 row numbers; self and repeats skipped
    k: int,
    metric: Metric,
    n_threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Each row's k nearest candidates: indices (n, k) int64, distances (n, k) float64."""

def nearest_centroids(
    x: npt.ArrayLike,  # (n, d) float32
    centroids: npt.ArrayLike,  # (m, d) float32
    count: int,  # 1 <= count <= m
    n_threads: int,
) -> npt.NDArray[np.int64]:
    """Each row's count nearest centroids (n, count) int64, nearest first."""

def native_bfloat16() -> bool:
    """Whether the CPU multiplies bfloat16 natively, which the probed searches then use."""

def probed_knn(
    x: npt.ArrayLike,  # (n, d) float32
    homes: npt.ArrayLike,  # (n,) int64: each row's cluster in [0, m)
    m: int,  # the number of clusters
    queries: npt.ArrayLike,  # (n_queries,) int64 row numbers
    probes: npt.ArrayLike,  # (n_queries, p) int64 cluster numbers, home cluster first
    c: int,  # candidates per query, 1 <= c < n
    n_threads: int,
    bfloat16: bool = True,  # rounded products where native_bfloat16() (a few more candidates)
) -> npt.NDArray[np.int64]:
    """Candidates (n_queries, c) int64 from the queries' probed clusters, -1 padded, unordered."""

def rerank_query_knn(
    x: npt.ArrayLike,  # (n, d): float64 with float64 queries as is, all else as float32
    queries: npt.ArrayLike,  # (n_queries, d), points that are not rows of x
    candidates: npt.ArrayLike,  # (n_queries, c) int64 row numbers of x; repeats skipped
    k: int,  # 1 <= k <= n
    metric: Metric,
    n_threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Each query's k nearest candidates: indices (n_queries, k) int64, distances float64."""

def probed_query_knn(
    x: npt.ArrayLike,  # (n, d) float32
    homes: npt.ArrayLike,  # (n,) int64: each row's cluster in [0, m)
    m: int,  # the number of clusters
    queries: npt.ArrayLike,  # (n_queries, d) float32, points that are not rows of x
    probes: npt.ArrayLike,  # (n_queries, p) int64 cluster numbers, nearest first
    c: int,  # candidates per query, 1 <= c <= n
    n_threads: int,
    bfloat16: bool = True,
) -> npt.NDArray[np.int64]:
    """Candidates (n_queries, c) int64 from the queries' probed clusters, -1 padded, unordered."""

def calibrate(
    distances: npt.ArrayLike,  # (n, k) float64, finite, non-negative
    perplexity: float,  # in (0, k]
    tolerance: float,  # on the entropy, nats
    max_iterations: int,
    n_threads: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """P(j|i) (n, k) float64 and the precisions beta (n,) float64 (may be 0 or inf)."""

def symmetrize(
    neighbors: npt.ArrayLike,  # (n, k) int64
    conditional: npt.ArrayLike,  # (n, k) float64, P(j|i)
    n_threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """Joint P as CSR: indptr (n + 1,) int64, indices (nnz,) int32, data (nnz,) float64."""

def attractive_forces(
    indptr: npt.ArrayLike,  # (n + 1,) int64, CSR rows of P
    indices: npt.ArrayLike,  # (nnz,) int32 rows of reference
    p: npt.ArrayLike,  # (nnz,) float32
    y: npt.ArrayLike,  # (n, d) float64, d <= 3
    reference: npt.ArrayLike,  # (m, d) float32 (y itself when fitting)
    dof: float,
    with_kl: bool,
    n_threads: int,
) -> tuple[npt.NDArray[np.float64], float]:
    """sum_j p_ij w_ij^(1/dof) (y_i - r_j): (n, d) float64, and sum p log w (0 without with_kl)."""

def spread_charges(
    y: npt.ArrayLike,  # (n, d) float64, d <= 3
    n_boxes: int,
    points_per_box: int,  # 1 to 8
    lower: float,
    box_width: float,
    n_threads: int,
) -> npt.NDArray[np.float32]:
    """Charges 1, y_0, ..., y_{d-1} on the grid's nodes: (d + 1, N, ..., N) float32."""

def interpolate_potentials(
    y: npt.ArrayLike,  # (n, d) float64
    n_boxes: int,
    points_per_box: int,
    lower: float,
    box_width: float,
    potentials: npt.ArrayLike,  # (N, ..., N, n_fields) float32
    n_threads: int,
) -> npt.NDArray[np.float64]:
    """The fields at the points: (n, n_fields) float64."""

def barnes_hut_repulsion(
    y: npt.ArrayLike,  # (n, d) float64, d <= 3
    sources: npt.ArrayLike,  # (m, d) float64
    dof: float,
    theta: float,  # >= 0; 0 is exact
    exclude_self: bool,  # y is sources: leave out each point's own term
    n_threads: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """sum_j w^(1+1/dof) (y_i - s_j): (n, d) float64, and sum_j w_ij: (n,) float64."""

