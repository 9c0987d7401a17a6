"""Parametric t-SNE: a neural network trained to preserve the native joint P."""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import numpy as np

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
from ._plan import ACTIVATIONS, INITS, MIN_BATCH_SIZE, NORMALIZATIONS, PRECISIONS

PARAMS_FILE = "parametric_tsne.json"
FORMAT_VERSION = 1
# Constructor parameters that hold live objects, not settings: save() stores None.
_LIVE_PARAMS = ("strategy", "encoder", "callbacks")
# Fitted attributes kept in PARAMS_FILE (the network and the embedding have files
# of their own), with the value that saves from before an attribute existed imply.
_SAVED_ATTRIBUTES = {"n_features_in_": None, "kl_divergence_": None, "n_epochs_": None,
                     "n_steps_": None, "training_precision_": "float32", "fit_seconds_": None}


# Parameters newer than FORMAT_VERSION 1's first saves, with the values those saves used.
_PARAMS_OF_OLDER_SAVES = {"input_components": None, "activation": "relu",
                          "repulsion_pairs": None, "init": "random",
                          "normalization": "batch", "mid_near_weight": 0.0}


class ParametricTSNE(EstimatorParams):
    """t-SNE as a neural network: embed the training data, then new points with the same map.

    The joint probabilities P come from the native core
    (:func:`tsne_native.affinities`, computed once).  A feed-forward network
    (van der Maaten, 2009), reading the data's leading principal components,
    is trained to minimize KL(P || Q) with a Student-t Q, on batches of
    P-edges ``(i, j)`` drawn with probability ``p_ij``; pairs of other points
    of the batch supply the repulsion.  Training runs in TensorFlow, on the
    GPU (compiled with XLA) when TensorFlow sees one.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the embedding (2 or 3 to look at; more is allowed).
    perplexity : float, default=30
        Effective number of neighbours of each point in P.
    input_components : int or None, default=100
        The network reads this many leading principal components of the
        data, computed once in ``fit`` (a randomized PCA) and kept in the
        network as a fixed first layer, so ``transform`` still takes the
        original features.  ``None``, or at least the number of features,
        reads the (centered and scaled) features themselves.
    hidden_layers : tuple of int, default=(256, 256, 256)
        Widths of the hidden layers.
    activation : {"silu", "relu"}, default="silu"
        Activation of the hidden layers.
    dof : float, default=1
        Degrees of freedom of the Student-t kernel in Q; 1 is classic t-SNE,
        smaller values give heavier tails and tighter clusters.
    n_epochs : int or None, default=None
        Training length; one epoch samples as many P-edges as there are points.
        ``None`` spends a fixed compute budget, the same on every machine:
        ``tsne_native.parametric.AUTO_TRAINING_MULTIPLY_ADDS`` multiply-adds
        of the network's forward passes (so a cheaper network trains on more
        edges), within the bounds ``tsne_native.parametric.AUTO_EPOCHS``.
    batch_size : int, default=1024
        Points embedded per step (per device), at least
        ``tsne_native.parametric.MIN_BATCH_SIZE``: a quarter are heads, each
        with three P-neighbours drawn with probability ``p_ij``.
    repulsion_pairs : int or None, default=None
        Each batch point is paired with this many others of the batch to
        estimate Q's normalization (the repulsion); ``None`` pairs every two
        points of the batch, which costs ``batch_size ** 2`` per step and
        buys more per second of training on MNIST (bench/RESULTS.md).
    normalization : {"batch", "point"}, default="batch"
        How Q is normalized on a batch.  ``"batch"``: one normalization
        shared by all its pairs, as in t-SNE.  ``"point"``: each point's own,
        over its partners (the per-anchor softmax of InfoNC-t-SNE, Damrich et
        al., ICLR 2023), so that every point is repelled as strongly wherever
        it lies; ``loss_history_`` then estimates KL(P || Q) with that Q.
    mid_near_weight : float, default=0
        When positive, each step also repels each sampled point from a
        mid-near point (of six points drawn at random, the second nearest in
        the data: PaCMAP's mid-near pairs, used as hard negatives by
        ParamRepulsor) with this weight on ``log(1 + w)``.  Not part of
        ``loss_history_``.
    learning_rate : float, default=3e-3
        Adam's initial learning rate; it decays to zero along a cosine.
    early_exaggeration : float, default=12
        Factor on the attraction during the first epochs, which lets
        clusters form before they are spread out.
    early_exaggeration_epochs : int or None, default=None
        How many of the epochs use the exaggeration; ``None`` means a tenth
        of them (none after ``init="tsne"``).
    init : {"random", "tsne"}, default="random"
        Where the network starts.  ``"random"``: Keras's weight initializers.
        ``"tsne"``: the network first learns the map that
        :class:`tsne_native.TSNE` makes of the same P, by regression on
        slightly blurred inputs (``tsne_native.parametric.TEACHER_EPOCHS``
        bounds its epochs, set by the budget
        ``TEACHER_TRAINING_MULTIPLY_ADDS``), then trains on KL(P || Q) from
        there; a smaller ``learning_rate`` (1e-4) and fewer ``n_epochs``
        keep what it learned.  Only for the network ``ParametricTSNE`` builds
        (not with ``encoder``).  On 20,000 MNIST digits it kept more of each
        point's nearest neighbours than 100 epochs from a random start but
        placed new digits less well; on 60,000 it trailed the defaults
        (bench/RESULTS.md, "A teacher's map as the start" and after).
    precision : {"auto", "float32", "mixed_bfloat16"}, default="auto"
        Arithmetic of the hidden layers during training.  ``"mixed_bfloat16"``
        multiplies in bfloat16 (float32 weights and output), faster on CPUs
        with bfloat16 dot products (AVX512-BF16 or AMX) and slower elsewhere;
        ``"auto"`` chooses it when training on such a CPU.  The fitted network
        computes in float32 either way.  With ``encoder`` given, the encoder
        trains in the dtypes it was built with: ``"auto"`` or ``"float32"``.
    n_neighbors : int or None, default=None
        Neighbours per point in P; ``None`` means ``min(n - 1, 3 * perplexity)``.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance used for the neighbours (cosine suits word and document vectors).
    encoder : keras.Model or None, default=None
        Your own network, mapping ``(batch, n_features)`` float32 to
        ``(batch, n_components)``, trained in place instead of the built one
        (``hidden_layers`` is then unused, and the inputs are not
        standardized for it).  Layers of your own need Keras registration
        (``keras.saving.register_keras_serializable``) for ``save``/``load``.
    callbacks : sequence of keras.callbacks.Callback or None, default=None
        Called during training after the estimator's own (early
        exaggeration, Ctrl-C); an epoch is one pass of ``fit``'s schedule.
    strategy : tf.distribute.Strategy or None, default=None
        Distribution strategy, e.g. ``tf.distribute.MirroredStrategy()`` for
        several GPUs; ``None`` uses the one in effect (a single device).
        With ``tf.distribute.MultiWorkerMirroredStrategy()`` (made first
        thing in each process, each with its own ``TF_CONFIG``) every worker
        calls ``fit`` on the same data with the same parameters; each step's
        edges are spread over all workers' devices, and every worker ends
        with the same network, seeded by the chief's ``random_state``.  Save
        it on one worker only: where ``strategy.extended.should_checkpoint``.
    log_dir : str or path-like or None, default=None
        Write the per-epoch loss as TensorBoard scalars there (only the chief
        of a multi-worker strategy writes).
    n_jobs : int or None, default=None
        Threads of the native affinity computation; ``None`` or ``-1`` uses
        every usable core, ``-2`` all but one; never more threads than cores.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the weight initialization and the edge sampling of this
        estimator only (global random state is never touched).
    verbose : bool, default=False
        Report the affinity stages and show a progress bar with the loss.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components), dtype float32
        The training data mapped by the fitted network.
    n_epochs_ : int
        The number of epochs trained (``n_epochs``, or the automatic choice).
    n_steps_ : int
        The number of optimizer steps trained.
    loss_history_ : ndarray of shape (n_epochs_,), dtype float64
        Mean estimated KL(P || Q) per epoch (computed without the exaggeration).
    kl_divergence_ : float
        The last epoch's estimated KL(P || Q).
    training_precision_ : str
        The arithmetic used in training: ``"float32"`` or ``"mixed_bfloat16"``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    encoder_ : keras.Model
        The trained network (float32 in, float32 out).
    fit_seconds_ : dict
        Wall time of the ``"affinities"`` and ``"training"`` stages (and,
        with ``init="tsne"``, of the ``"teacher map"``, part of the training's).

    Examples
    --------
    >>> import tsne_native
    >>> X, y = tsne_native.datasets.load_digits()
    >>> model = tsne_native.ParametricTSNE(random_state=0).fit(X[:1500])
    >>> new_points = model.transform(X[1500:])
    """

    def __init__(self, n_components=2, perplexity=30.0, *, input_components=100,
                 hidden_layers=(256, 256, 256), activation="silu", dof=1.0, n_epochs=None,
                 batch_size=1024, repulsion_pairs=None, normalization="batch",
                 mid_near_weight=0.0, learning_rate=3e-3,
                 early_exaggeration=12.0, early_exaggeration_epochs=None, init="random",
                 precision="auto", n_neighbors=None, metric="euclidean", encoder=None,
                 callbacks=None, strategy=None, log_dir=None, n_jobs=None, random_state=None,
                 verbose=False):
        self.n_components = n_components
        self.perplexity = perplexity
        self.input_components = input_components
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.dof = dof
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.repulsion_pairs = repulsion_pairs
        self.normalization = normalization
        self.mid_near_weight = mid_near_weight
        self.learning_rate = learning_rate
        self.early_exaggeration = early_exaggeration
        self.early_exaggeration_epochs = early_exaggeration_epochs
        self.init = init
        self.precision = precision
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.encoder = encoder
        self.callbacks = callbacks
        self.strategy = strategy
        self.log_dir = log_dir
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -- fitting and embedding ----------------------------------------------

    def fit(self, X, y=None):
        """Compute P for ``X`` and train the network on it.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Real-valued training data (any numeric dtype and memory layout).
        y : ignored
            Accepted for scikit-learn pipelines.

        Returns
        -------
        self : ParametricTSNE

        Raises
        ------
        ValueError
            For malformed data or parameters (the message names which).
        """
        del y
        data = check_data(X)
        settings = self._checked_params(data.shape[1])
        seed = _seed_from(self.random_state)
        progress = Progress(self.verbose)
        with progress.stage("affinities"):
            P = affinities(data, settings["perplexity"], n_neighbors=self.n_neighbors,
                           metric=self.metric, n_jobs=self.n_jobs, random_state=seed,
                           verbose=self.verbose)
        teacher = None
        if settings["init"] == "tsne":
            def teacher(shared_seed):
                with progress.stage("teacher map"):
                    return self._teacher_map(data, P, settings, shared_seed)
        features = _network_input(data)
        if teacher is None:
            del data  # else the teacher needs it, during training
        from . import _training  # TensorFlow only from here on

        with progress.stage("training"):
            fitted = _training.fit(features, P, settings, seed=seed, strategy=self.strategy,
                                   encoder=self.encoder, callbacks=self.callbacks or (),
                                   log_dir=self.log_dir, teacher=teacher,
                                   verbose=self.verbose)
        self.encoder_, self.embedding_ = fitted.encoder, fitted.embedding
        self.loss_history_ = fitted.loss_history
        self.kl_divergence_ = float(fitted.loss_history[-1])
        self.n_epochs_, self.n_steps_ = fitted.plan.n_epochs, fitted.plan.n_steps
        self.training_precision_ = fitted.plan.precision
        self.n_features_in_ = features.shape[1]
        self.fit_seconds_ = dict(progress.seconds)
        progress.say(f"parametric t-SNE: affinities {progress.seconds['affinities']:.1f} s, "
                     f"training {progress.seconds['training']:.1f} s, "
                     f"KL {self.kl_divergence_:.3f}")
        return self

    def _teacher_map(self, data, P, settings, seed):
        """``TSNE``'s map of ``P`` (PCA start from ``data``): (n_samples, n_components) float32."""
        from ..tsne import TSNE
        from ..tsne.initialization import pca

        # TSNE's own PCA start, given rather than computed from X: fitted on P
        # alone, TSNE skips the neighbour index its transform would need.
        start = pca(data, settings["n_components"], np.random.default_rng(seed))
        teacher = TSNE(settings["n_components"], initialization=start, n_jobs=self.n_jobs,
                       random_state=seed, verbose=self.verbose)
        return teacher.fit(affinities=P).embedding_.astype(np.float32)

    def fit_transform(self, X, y=None):
        """Fit on ``X`` and return its embedding (``embedding_``).

        Returns
        -------
        ndarray of shape (n_samples, n_components), dtype float32
        """
        return self.fit(X, y).embedding_

    def transform(self, X):
        """Embed points with the trained network.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features_in_)
            New (or training) data, with the features seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_components), dtype float32

        Raises
        ------
        ValueError
            Before ``fit``, or for malformed data or a wrong number of features.
        """
        self._check_fitted()
        data = check_data(X, min_rows=1)
        if data.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {data.shape[1]} features, but this ParametricTSNE was "
                             f"fitted on {self.n_features_in_}")
        from . import _network

        return _network.embed(self.encoder_, _network_input(data))

    # -- persistence --------------------------------------------------------

    def save(self, path, *, overwrite=False):
        """Save the fitted model to the directory ``path``.

        The directory holds the network in the Keras 3 format
        (``model.keras``), the estimator's parameters and fitted attributes
        (``parametric_tsne.json``) and the training embedding
        (``embedding.npy``).  Load it with :func:`tsne_native.load`; the
        training data is not needed.

        Parameters
        ----------
        path : str or path-like
            A directory; it must not exist unless ``overwrite`` is true.
        overwrite : bool, default=False
            Replace the files of an existing save.
        """
        self._check_fitted()
        from . import _network

        directory = Path(path)
        if directory.exists() and not overwrite:
            raise FileExistsError(f"{directory} already exists; pass overwrite=True to replace it")
        directory.mkdir(parents=True, exist_ok=True)
        params = self.get_params() | dict.fromkeys(_LIVE_PARAMS)
        params["log_dir"] = None if self.log_dir is None else str(self.log_dir)
        params["random_state"] = self.random_state if is_json_seed(self.random_state) else None
        state = {"format_version": FORMAT_VERSION, "params": params,
                 "loss_history_": self.loss_history_.tolist(),
                 **{name: getattr(self, name) for name in _SAVED_ATTRIBUTES}}
        _network.save_encoder(self.encoder_, directory)
        np.save(directory / EMBEDDING_FILE, self.embedding_)
        (directory / PARAMS_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _check_fitted(self):
        if not hasattr(self, "encoder_"):
            raise ValueError("this ParametricTSNE is not fitted yet; call fit(X) before "
                             "transform or save")

    def _checked_params(self, n_features):
        """The parameters, validated (the automatic choices, ``None``, left to fit).

        Raises ValueError or TypeError naming the bad parameter.
        """
        n_components = check_integer(self.n_components, "n_components", low=1)
        n_epochs, early_epochs = self.n_epochs, self.early_exaggeration_epochs
        if n_epochs is not None:
            n_epochs = check_integer(n_epochs, "n_epochs", low=1)
        if early_epochs is not None:
            early_epochs = check_integer(early_epochs, "early_exaggeration_epochs", low=0)
        if self.n_neighbors is not None:
            check_integer(self.n_neighbors, "n_neighbors", low=1)
        check_choice(self.metric, "metric", METRICS)
        resolve_n_jobs(self.n_jobs)
        precision = check_choice(self.precision, "precision", PRECISIONS)
        init = check_choice(self.init, "init", INITS)
        if init == "tsne" and self.encoder is not None:
            raise ValueError("init='tsne' starts the network ParametricTSNE builds; with your "
                             "own encoder use init='random'")
        self._check_live_objects(n_features, n_components, precision)
        return {
            "n_components": n_components,
            "perplexity": check_perplexity(self.perplexity),
            "input_components": (None if self.input_components is None else
                                 check_integer(self.input_components, "input_components",
                                               low=1)),
            "hidden_layers": self._checked_hidden_layers(),
            "activation": check_choice(self.activation, "activation", ACTIVATIONS),
            "dof": check_positive_number(self.dof, "dof"),
            "n_epochs": n_epochs,
            "early_exaggeration_epochs": early_epochs,
            "batch_size": check_integer(self.batch_size, "batch_size", low=MIN_BATCH_SIZE),
            "repulsion_pairs": (None if self.repulsion_pairs is None else
                                check_integer(self.repulsion_pairs, "repulsion_pairs", low=1)),
            "normalization": check_choice(self.normalization, "normalization",
                                          NORMALIZATIONS),
            "mid_near_weight": check_positive_number(self.mid_near_weight, "mid_near_weight",
                                                     allow_zero=True),
            "learning_rate": check_positive_number(self.learning_rate, "learning_rate"),
            "early_exaggeration": check_positive_number(self.early_exaggeration,
                                                        "early_exaggeration"),
            "precision": precision,
            "init": init,
        }

    def _checked_hidden_layers(self):
        hidden_layers = self.hidden_layers
        if isinstance(hidden_layers, numbers.Integral):
            hidden_layers = (hidden_layers,)
        try:
            return tuple(check_integer(width, "hidden_layers width", low=1)
                         for width in hidden_layers)
        except TypeError:
            raise TypeError("hidden_layers must be a sequence of positive integers; got "
                            f"{self.hidden_layers!r}") from None

    def _check_live_objects(self, n_features, n_components, precision):
        """Check ``encoder``, ``callbacks`` and ``strategy`` (TensorFlow only when given)."""
        if self.encoder is None and self.callbacks is None and self.strategy is None:
            return
        from . import _network, _training

        if self.encoder is not None:
            _network.check_encoder(self.encoder, n_features, n_components)
            if precision == "mixed_bfloat16":
                raise ValueError("precision='mixed_bfloat16' applies to the network "
                                 "ParametricTSNE builds; give your encoder's layers a dtype "
                                 "policy instead, or use precision='auto'")
        if self.callbacks is not None:
            _training.check_callbacks(self.callbacks)
        if self.strategy is not None and not _training.is_strategy(self.strategy):
            raise TypeError("strategy must be a tf.distribute.Strategy or None; got "
                            f"{type(self.strategy).__name__}")


def load(path):
    """Load a :class:`ParametricTSNE` saved with :meth:`ParametricTSNE.save`.

    Parameters
    ----------
    path : str or path-like
        The directory written by ``save``.

    Returns
    -------
    ParametricTSNE
        Fitted: ``transform`` gives the same output as the saved model's.

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a saved model directory.
    ValueError
        When the save is from an unknown format version.
    """
    directory = Path(path)
    state_file = directory / PARAMS_FILE
    if not state_file.is_file():
        raise FileNotFoundError(f"{directory} is not a saved ParametricTSNE ({PARAMS_FILE} "
                                "not found)")
    state = json.loads(state_file.read_text())
    if state.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{state_file} has format version {state.get('format_version')!r}; "
                         f"this tsne_native reads version {FORMAT_VERSION}")
    from . import _network

    params = _PARAMS_OF_OLDER_SAVES | state["params"]
    params["hidden_layers"] = tuple(params["hidden_layers"])
    model = ParametricTSNE(**params)
    model.encoder_ = _network.load_encoder(directory)
    model.embedding_ = np.load(directory / EMBEDDING_FILE)
    model.loss_history_ = np.asarray(state["loss_history_"], dtype=np.float64)
    for name, default in _SAVED_ATTRIBUTES.items():
        setattr(model, name, state[name] if default is None else state.get(name, default))
    return model


def _network_input(data):
    """``data`` as the network's float32; raises ValueError where values exceed float32."""
    with np.errstate(over="ignore"):
        features = np.asarray(data, dtype=np.float32)
    if features.dtype != data.dtype and not np.isfinite(features).all():
        raise ValueError("X holds values beyond float32's range (about 3.4e38), which the "
                         "network takes as input; rescale X")
    return features


def _seed_from(random_state):
    """A 31-bit seed drawn from ``random_state`` without touching global state."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1024))
    if random_state is None or is_json_seed(random_state):
        return int(np.random.default_rng(random_state).integers(2**31 - 1024))
    raise TypeError("random_state must be None, an int or a numpy.random.Generator; got "
                    f"{random_state!r}")
