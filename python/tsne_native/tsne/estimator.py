"""``TSNE``: t-SNE optimized directly by the native core, with ``transform`` for new points."""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import numpy as np
import scipy.sparse

from .._params import EstimatorParams, is_json_seed
from .._progress import Progress
from .._validation import (
    check_choice,
    check_data,
    check_integer,
    check_perplexity,
    check_positive_number,
    resolve_n_jobs,
)
from ..affinity import METRICS, affinities
from ..projector.log import EMBEDDING_FILE
from . import initialization as starts
from ._optimizer import Objective, Phase, State, descend
from ._placement import neighbor_index, place
from ._repulsion import (
    FixedMapRepulsion,
    InterpolationSettings,
    barnes_hut_repulsion,
    interpolated_repulsion,
)

PARAMS_FILE = "tsne.json"
TRAINING_DATA_FILE = "training_data.npy"
FORMAT_VERSION = 1
METHODS = ("auto", "fft", "bh")
INITIALIZATIONS = ("pca", "random")
# negative_gradient_method="auto": Barnes-Hut below this many points (and for
# 3-D maps), interpolation from here on.
AUTO_FFT_MIN_SAMPLES = 10_000


class TSNE(EstimatorParams):
    """t-SNE, optimized by the native core: the best map of the data, and new points on it.

    P comes from :func:`tsne_native.affinities`.  The map starts from the
    data's principal components and follows gradient descent with momentum
    and per-coordinate gains: first with the attraction exaggerated (clusters
    form), then plain.  The repulsion of all pairs is interpolated on a grid
    and convolved by FFT (Linderman et al., 2019) for 1-D and 2-D maps of
    many points, and estimated by Barnes-Hut otherwise.

    Parameters
    ----------
    n_components : {1, 2, 3}, default=2
    perplexity : float, default=30
    n_neighbors : int or None, default=None
        Neighbours per point in P; ``None`` means ``min(n - 1, 3 * perplexity)``.
    metric : {"euclidean", "cosine"}, default="euclidean"
    early_exaggeration : float, default=12
        Factor on the attraction during the first ``early_exaggeration_iter``
        iterations.
    early_exaggeration_iter : int, default=250
    n_iter : int, default=500
        Iterations after the early exaggeration.
    exaggeration : float, default=1
        Factor on the attraction in those iterations (above 1 tightens clusters).
    learning_rate : float or "auto", default="auto"
        ``"auto"`` is ``n_samples / exaggeration`` in each phase (Belkina et
        al., 2019, as openTSNE).
    momentum : float, default=0.8
    dof : float, default=1
        Degrees of freedom of the Student-t kernel; below 1, heavier tails.
    initialization : {"pca", "random"} or array of shape (n_samples, n_components), default="pca"
        ``"pca"`` scales the data's leading components to a standard deviation
        of 1e-4 (``"random"`` when fitting precomputed affinities without X);
        an array is used as given.
    negative_gradient_method : {"auto", "fft", "bh"}, default="auto"
        ``"fft"`` (1-D and 2-D only), ``"bh"`` (Barnes-Hut), or ``"auto"``:
        FFT for 1-D and 2-D maps of ``AUTO_FFT_MIN_SAMPLES`` points or more.
    theta : float, default=0.5
        Barnes-Hut's opening angle (0 is exact, and slow).
    n_interpolation_points : int, default=3
        Interpolation nodes per grid box and axis (1 to 8).
    min_num_intervals : int, default=50
        Grid boxes per axis at least.
    ints_in_interval : float, default=1
        Length of a grid box in embedding units, when the map is large enough
        to need more than ``min_num_intervals`` of them.
    max_grad_norm : float or None, default=None
        Shorten each point's gradient to this norm at most.
    n_jobs : int or None, default=None
        Threads; ``None`` or ``-1`` uses every usable core.  The map does not
        depend on it.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the approximate neighbour search and random starts.
    verbose : bool, default=False
        Report each stage, and KL every 50 iterations with the time left.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), dtype float64
    kl_divergence_ : float
        KL(P || Q) of the final map (with the interpolated or Barnes-Hut Z).
    kl_history_ : ndarray of shape (n_records, 2), dtype float64
        ``(iteration, KL)`` every 50 iterations.
    n_iter_ : int
        Iterations run, both phases.
    n_features_in_ : int
        Features seen in ``fit`` (0 when fitted on precomputed affinities).
    training_data_ : ndarray of shape (n_samples, n_features), dtype float32, or None
        The data ``transform`` searches for new points' neighbours (None
        without X).
    fit_seconds_ : dict
        Wall time of the ``"affinities"`` and ``"optimization"`` stages.

    Examples
    --------
    >>> from tsne_native import TSNE, datasets
    >>> digits, labels = datasets.load_digits()
    >>> model = TSNE(perplexity=30, random_state=0)
    >>> first_map = model.fit_transform(digits[:1500])      # (1500, 2)
    >>> placed = model.transform(digits[1500:])             # (297, 2), same map
    """

    def __init__(self, n_components=2, perplexity=30.0, *, n_neighbors=None,
                 metric="euclidean", early_exaggeration=12.0, early_exaggeration_iter=250,
                 n_iter=500, exaggeration=1.0, learning_rate="auto", momentum=0.8, dof=1.0,
                 initialization="pca", negative_gradient_method="auto", theta=0.5,
                 n_interpolation_points=3, min_num_intervals=50, ints_in_interval=1.0,
                 max_grad_norm=None, n_jobs=None, random_state=None, verbose=False):
        self.n_components = n_components
        self.perplexity = perplexity
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.early_exaggeration = early_exaggeration
        self.early_exaggeration_iter = early_exaggeration_iter
        self.n_iter = n_iter
        self.exaggeration = exaggeration
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.dof = dof
        self.initialization = initialization
        self.negative_gradient_method = negative_gradient_method
        self.theta = theta
        self.n_interpolation_points = n_interpolation_points
        self.min_num_intervals = min_num_intervals
        self.ints_in_interval = ints_in_interval
        self.max_grad_norm = max_grad_norm
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -- fitting --------------------------------------------------------------

    def fit(self, X=None, y=None, *, affinities=None, knn=None):
        """Compute P (unless given) and optimize the map.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features), optional
            The data; needed for ``transform`` and for the PCA start.
        y : ignored
        affinities : scipy.sparse matrix of shape (n_samples, n_samples), optional
            A joint P (from :func:`tsne_native.affinities`; rescaled to sum to 1).
        knn : tuple (indices, distances), optional
            Precomputed neighbours, as :func:`tsne_native.affinities` takes them.

        Returns
        -------
        self : TSNE
        """
        del y
        settings = self._checked_params()
        data = None if X is None else check_data(X)
        rng = np.random.default_rng(self.random_state)
        progress = Progress(self.verbose)
        with progress.stage("affinities"):
            P = self._joint_probabilities(data, affinities, knn, settings, rng)
        start = self._start(data, P.shape[0], settings, rng)
        with progress.stage("optimization"):
            self.embedding_, state, final_kl = self._optimize(start, P, settings, progress)
        self.kl_history_ = np.asarray(state.kl_history, dtype=np.float64).reshape(-1, 2)
        self.kl_divergence_ = final_kl
        self.n_iter_ = state.iterations
        self.n_features_in_ = 0 if data is None else data.shape[1]
        self.training_data_ = None if data is None else data.astype(np.float32)
        self._placement_tools = None
        if data is not None:
            with progress.stage("neighbour index and fixed map for transform"):
                self._tools_for_placement(settings)
        self.fit_seconds_ = dict(progress.seconds)
        progress.say(f"t-SNE: affinities {progress.seconds['affinities']:.1f} s, optimization "
                     f"{progress.seconds['optimization']:.1f} s, KL {self.kl_divergence_:.4f}")
        return self

    def fit_transform(self, X=None, y=None, **kwargs):
        """Fit and return ``embedding_``: (n_samples, n_components) float64."""
        return self.fit(X, y, **kwargs).embedding_

    def _joint_probabilities(self, data, given, knn, settings, rng):
        if given is None:
            return affinities(data, settings["perplexity"], n_neighbors=self.n_neighbors,
                              knn=knn, metric=self.metric, n_jobs=settings["threads"],
                              random_state=rng, verbose=self.verbose)
        P = scipy.sparse.csr_matrix(given, dtype=np.float64)
        n = P.shape[0]
        if P.shape != (n, n) or n < 2 or (data is not None and len(data) != n):
            raise ValueError(f"affinities must be a square matrix with a row per point; got "
                             f"shape {P.shape}")
        if not np.all(np.isfinite(P.data)) or (P.data < 0).any() or P.sum() <= 0:
            raise ValueError("affinities must be finite, non-negative and not all zero")
        P.sort_indices()
        total = P.sum()
        # A P from tsne_native.affinities sums to 1 up to rounding: kept as it is.
        return P if abs(total - 1.0) <= 1e-9 else P / total

    def _start(self, data, n, settings, rng):
        initialization = self.initialization
        if isinstance(initialization, str):
            if initialization == "pca" and data is not None:
                return starts.pca(data, settings["n_components"], rng)
            return starts.random(n, settings["n_components"], rng)
        start = np.array(initialization, dtype=np.float64)
        if start.shape != (n, settings["n_components"]) or not np.isfinite(start).all():
            raise ValueError(f"initialization must be finite and of shape "
                             f"({n}, {settings['n_components']}); got shape {start.shape}")
        return start

    def _repulsion(self, n, settings):
        """The all-pairs repulsion ``y -> (repulsion, Z)`` of the chosen method."""
        dof, threads = settings["dof"], settings["threads"]
        if _method(settings, n) == "fft":
            grid = settings["interpolation"]
            return lambda y: interpolated_repulsion(y, dof, grid, threads)
        return lambda y: barnes_hut_repulsion(y, dof, settings["theta"], threads)

    def _optimize(self, start, P, settings, progress):
        n = P.shape[0]
        objective = Objective(P, settings["dof"], self._repulsion(n, settings),
                              settings["threads"])
        state = State.start(start)
        y = start
        for phase in self._phases(n, settings):
            y = descend(y, objective, phase, state, progress)
        return y, state, objective(y, 1.0, with_kl=True)[1]

    def _phases(self, n, settings):
        def rate(exaggeration):
            learning_rate = settings["learning_rate"]
            return n / exaggeration if learning_rate == "auto" else learning_rate

        phases = []
        for name, n_iter, exaggeration in (
                ("early exaggeration", settings["early_exaggeration_iter"],
                 settings["early_exaggeration"]),
                ("t-SNE", settings["n_iter"], settings["exaggeration"])):
            if n_iter:
                phases.append(Phase(name, n_iter, exaggeration, rate(exaggeration),
                                    settings["momentum"], settings["max_grad_norm"]))
        return phases

    # -- new points -------------------------------------------------------------

    def transform(self, X):
        """Place new points on the fitted map, which stays as it is.

        Each new point gets its nearest training points (in X, from an index
        that ``fit`` builds: ``tsne_native.affinity._query.QueryIndex``), conditional
        probabilities over them at a small perplexity, a start at their median
        position, and short, clipped optimization that moves only the new
        points (openTSNE's recipe, with its settings:
        ``tsne_native.tsne._placement.TRANSFORM``); new points do not act on
        one another.

        Parameters
        ----------
        X : array_like of shape (n_new, n_features_in_)

        Returns
        -------
        ndarray of shape (n_new, n_components), dtype float64

        Raises
        ------
        ValueError
            Before ``fit``, after a fit on precomputed affinities without X,
            or for malformed data or a wrong number of features.
        """
        self._check_fitted()
        if self.training_data_ is None:
            raise ValueError("this TSNE was fitted on precomputed affinities without X, so it "
                             "cannot find the neighbours of new points; fit it with X")
        data = check_data(X, min_rows=1)
        if data.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {data.shape[1]} features, but this TSNE was fitted on "
                             f"{self.n_features_in_}")
        settings = self._checked_params()
        index, repulsion = self._tools_for_placement(settings)
        return place(data, index, self.embedding_, repulsion, dof=settings["dof"],
                     threads=settings["threads"],
                     progress=Progress(self.verbose))

    def _tools_for_placement(self, settings):
        """``(QueryIndex, FixedMapRepulsion)`` for transform, kept between calls.

        Built by ``fit``; built again after ``load`` or when a parameter they
        depend on was set since.
        """
        method = _method(settings, len(self.embedding_))
        key = (self.metric, settings["dof"], method, settings["interpolation"],
               settings["theta"], settings["threads"])
        kept = getattr(self, "_placement_tools", None)
        if kept is None or kept[0] != key:
            repulsion = FixedMapRepulsion(self.embedding_, settings["dof"], method,
                                          settings["interpolation"], settings["theta"],
                                          settings["threads"])
            index = neighbor_index(self.training_data_, self.metric, settings["threads"])
            kept = self._placement_tools = (key, index, repulsion)
        return kept[1:]

    # -- persistence ------------------------------------------------------------

    def save(self, path, *, overwrite=False):
        """Save the fitted map to the directory ``path``, ready to ``transform`` later.

        The directory holds the parameters and fitted attributes
        (``tsne.json``), the map (``embedding.npy``) and the training data as
        float32 (``training_data.npy``: ``4 * n_samples * n_features`` bytes,
        188 MB for 60,000 MNIST digits), which ``transform`` searches for the
        new points' neighbours.  Load it with :func:`tsne_native.load`; the
        first ``transform`` after loading rebuilds the neighbour index (about
        as long as placing 10,000 points).
        """
        self._check_fitted()
        directory = Path(path)
        if directory.exists() and not overwrite:
            raise FileExistsError(f"{directory} already exists; pass overwrite=True to replace it")
        directory.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        if not isinstance(params["initialization"], str):
            params["initialization"] = "pca"  # the start is not needed to use the map
        if not is_json_seed(params["random_state"]):
            params["random_state"] = None
        state = {"format_version": FORMAT_VERSION, "params": params,
                 "kl_divergence_": self.kl_divergence_, "kl_history_": self.kl_history_.tolist(),
                 "n_iter_": self.n_iter_, "n_features_in_": self.n_features_in_,
                 "fit_seconds_": self.fit_seconds_}
        np.save(directory / EMBEDDING_FILE, self.embedding_)
        if self.training_data_ is not None:
            np.save(directory / TRAINING_DATA_FILE, self.training_data_)
        (directory / PARAMS_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _check_fitted(self):
        if not hasattr(self, "embedding_"):
            raise ValueError("this TSNE is not fitted yet; call fit(X) before transform or save")

    def _checked_params(self):
        """The parameters, validated; raises ValueError or TypeError naming the bad one."""
        learning_rate = self.learning_rate
        if not (isinstance(learning_rate, str) and learning_rate == "auto"):
            learning_rate = check_positive_number(learning_rate, "learning_rate")
        if self.n_neighbors is not None:
            check_integer(self.n_neighbors, "n_neighbors", low=1)
        if isinstance(self.initialization, str):
            check_choice(self.initialization, "initialization", INITIALIZATIONS)
        momentum = self.momentum
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) \
                or not 0 <= momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1); got {momentum!r}")
        theta = self.theta
        if isinstance(theta, bool) or not isinstance(theta, numbers.Real) or not theta >= 0:
            raise ValueError(f"theta must be a number >= 0; got {theta!r}")
        settings = {
            "n_components": check_integer(self.n_components, "n_components", low=1, high=3),
            "perplexity": check_perplexity(self.perplexity),
            "early_exaggeration": check_positive_number(self.early_exaggeration,
                                                        "early_exaggeration"),
            "early_exaggeration_iter": check_integer(self.early_exaggeration_iter,
                                                     "early_exaggeration_iter", low=0),
            "n_iter": check_integer(self.n_iter, "n_iter", low=0),
            "exaggeration": check_positive_number(self.exaggeration, "exaggeration"),
            "learning_rate": learning_rate, "momentum": float(momentum),
            "dof": check_positive_number(self.dof, "dof"), "theta": float(theta),
            "method": check_choice(self.negative_gradient_method, "negative_gradient_method",
                                   METHODS),
            "max_grad_norm": (None if self.max_grad_norm is None else
                              check_positive_number(self.max_grad_norm, "max_grad_norm")),
            "interpolation": InterpolationSettings(
                check_integer(self.n_interpolation_points, "n_interpolation_points", low=1,
                              high=8),
                check_integer(self.min_num_intervals, "min_num_intervals", low=1),
                1.0 / check_positive_number(self.ints_in_interval, "ints_in_interval")),
            "threads": resolve_n_jobs(self.n_jobs),
        }
        check_choice(self.metric, "metric", METRICS)
        if settings["method"] == "fft" and settings["n_components"] > 2:
            raise ValueError("negative_gradient_method='fft' interpolates 1-D and 2-D maps only; "
                             "use 'bh' (or 'auto') for 3-D")
        return settings


def load_tsne(directory):
    """A :class:`TSNE` saved by :meth:`TSNE.save` in ``directory`` (a Path)."""
    state = json.loads((directory / PARAMS_FILE).read_text())
    if state.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{directory / PARAMS_FILE} has format version "
                         f"{state.get('format_version')!r}; this tsne_native reads version "
                         f"{FORMAT_VERSION}")
    model = TSNE(**state["params"])
    model.embedding_ = np.load(directory / EMBEDDING_FILE)
    training = directory / TRAINING_DATA_FILE
    model.training_data_ = np.load(training) if training.is_file() else None
    model.kl_history_ = np.asarray(state["kl_history_"], dtype=np.float64).reshape(-1, 2)
    for name in ("kl_divergence_", "n_iter_", "n_features_in_", "fit_seconds_"):
        setattr(model, name, state[name])
    return model


def _method(settings, n):
    method = settings["method"]
    if method == "auto":
        wide = settings["n_components"] > 2 or n < AUTO_FFT_MIN_SAMPLES
        return "bh" if wide else "fft"
    return method
