"""The map of a run: a TSNE or ParametricTSNE fitted with the command's options, or a saved one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import parametric, tsne
from .._progress import Progress
from .._validation import check_count
from ..parametric import ParametricTSNE
from ..projector import concatenate_thumbnails, read_log
from ..projector.log import MODEL_DIR
from ..saved import load
from ..tsne import TSNE
from .inputs import Inputs, unused_name

METHODS = {"parametric": ParametricTSNE, "tsne": TSNE}
# Command-line option -> estimator parameter, for the options that shape the
# fit (they have no meaning with --model, whose map is made) ...
TRAINING_OPTIONS = {"perplexity": "perplexity", "dims": "n_components", "metric": "metric"}
# ... and those of the network only.
NETWORK_OPTIONS = {"epochs": "n_epochs", "hidden_layers": "hidden_layers",
                   "batch_size": "batch_size"}
# The demo's training of its 1,797 digits, where the options do not say
# otherwise: on so few points a step of the default network costs mostly fixed
# overhead, and a narrower network on smaller batches turns the demo's seconds
# into more steps (bench/RESULTS.md, "The demo's map"; bench/demo_quality.py).
DEMO_TRAINING = {"epochs": 125, "hidden_layers": (128, 128, 128), "batch_size": 256}


@dataclass
class Map:
    """What a run exports."""

    embedding: np.ndarray
    metadata: dict
    thumbnails: np.ndarray | None
    loss_history: np.ndarray
    parameters: dict
    model: TSNE | ParametricTSNE | None = None      # saved into the log when fitted here
    loss_steps: np.ndarray | None = None     # the iteration of each loss; None: epochs 1, 2, ...
    highlight: np.ndarray | None = None
    details: dict = field(default_factory=dict)



def train(args, inputs: Inputs, progress: Progress, *, strategy=None) -> Map:
    """Fit the --method's estimator with the command's options (its defaults otherwise).

    ``strategy`` (a ``tf.distribute.Strategy`` or ``None``) trains a ParametricTSNE.
    """
    seed = args.seed if args.seed is not None else int(np.random.default_rng().integers(2**31))
    options = TRAINING_OPTIONS | (NETWORK_OPTIONS if args.method == "parametric" else {})
    params = {parameter: getattr(args, option) for option, parameter in options.items()
              if getattr(args, option) is not None}
    if args.metric is None and inputs.word_vectors:
        params["metric"] = "cosine"
    if (args.demo or args.data is None) and args.method == "parametric":
        params = {options[option]: value for option, value in DEMO_TRAINING.items()
                  if getattr(args, option) is None} | params
    if strategy is not None:
        params["strategy"] = strategy
    model = METHODS[args.method](**params, n_jobs=args.n_jobs, random_state=seed,
                                 verbose=not args.quiet)
    progress.say(_description(model, seed))
    model.fit(inputs.X)
    progress.seconds.update(model.fit_seconds_)
    losses, steps = _losses(model)
    return Map(model.embedding_, inputs.metadata, inputs.thumbnails, losses, _settings(model),
               model=model, loss_steps=steps,
               details={"mode": "fit", "method": args.method,
                        "kl_divergence": model.kl_divergence_, "model": "model",
                        **_distribution(args.distribute, strategy)})


def _distribution(option, strategy) -> dict:
    """run.json's record of a distributed training (nothing for one device)."""
    if strategy is None:
        return {}
    return {"distribute": {"strategy": option, "replicas": strategy.num_replicas_in_sync}}


def _description(model, seed) -> str:
    common = (f"{model.n_components}-D map, perplexity {model.perplexity:g}, {model.metric} "
              f"distances, seed {seed}")
    if isinstance(model, TSNE):
        return (f"t-SNE: {common}, {model.early_exaggeration_iter} + {model.n_iter} "
                f"iterations")
    return (f"parametric t-SNE: {common}, {model.n_epochs or 'automatic'} epochs, "
            f"hidden layers {'-'.join(map(str, model.hidden_layers))}")


def _losses(model) -> tuple[np.ndarray, np.ndarray | None]:
    """``(KL values, their iterations or None for epochs)`` of a fitted model."""
    if isinstance(model, TSNE):
        return model.kl_history_[:, 1], model.kl_history_[:, 0].astype(np.int64)
    return model.loss_history_, None


def _settings(model) -> dict:
    """The model's parameters for run.json (not the live ones)."""
    parameters = model.get_params()
    for name in ("strategy", "encoder", "callbacks", "verbose"):
        parameters.pop(name, None)
    return parameters


def embed_new_points(args, inputs: Inputs, progress: Progress, model_dir: Path,
                     training_log: Path | None) -> Map:
    """Map the data with a saved model; optionally add the model's training points."""
    progress.say(f"loading the model in {model_dir}")
    model = load(model_dir)
    if inputs.X.shape[1] != model.n_features_in_:
        raise ValueError(f"{inputs.name} has {inputs.X.shape[1]:,} features, but the model in "
                         f"{model_dir} was trained on {model.n_features_in_:,}")
    with progress.stage("transform"):
        embedding = model.transform(inputs.X)
    progress.say(f"embedded {len(embedding):,} new points ({progress.seconds['transform']:.1f} s)")
    parameters = _settings(model)
    losses, steps = _losses(model)
    details = {"mode": "transform", "model": str(model_dir.resolve()),
               "with_training": args.with_training}
    if not args.with_training:
        return Map(embedding, inputs.metadata, inputs.thumbnails, losses, parameters,
                   loss_steps=steps, details=details)
    return _with_training_points(model, training_log, embedding, inputs, parameters, details,
                                 progress)


def find_model(path: Path) -> tuple[Path, Path | None]:
    """``(model directory, log directory or None)`` for a log or a saved model."""
    names = (tsne.PARAMS_FILE, parametric.PARAMS_FILE)
    for name in names:
        if (path / MODEL_DIR / name).is_file():
            return path / MODEL_DIR, path
        if (path / name).is_file():
            return path, None
    raise ValueError(f"--model {path} is neither a tsne-native log directory nor a saved "
                     f"TSNE or ParametricTSNE (no {' or '.join(names)}, in {MODEL_DIR}/ or in "
                     "the directory)")


def _with_training_points(model, training_log, embedding, inputs, parameters, details,
                          progress) -> Map:
    """The model's training embedding followed by the new points, with a 'set' column."""
    training = {"metadata": {}, "thumbnails": None}
    if training_log is not None:
        training = read_log(training_log)
    n_train, n_new = len(model.embedding_), len(embedding)
    for name, values in training["metadata"].items():
        check_count(len(values), n_train, "rows", f"{training_log}: metadata column {name!r}")
    metadata = _stack_columns(training["metadata"], n_train, inputs.metadata, n_new)
    metadata[unused_name("set", metadata)] = ["training"] * n_train + ["new"] * n_new
    thumbnails = None
    if training["thumbnails"] is not None and inputs.thumbnails is not None:
        thumbnails = concatenate_thumbnails(training["thumbnails"], inputs.thumbnails)
    elif training["thumbnails"] is not None or inputs.thumbnails is not None:
        progress.say("no sprite: only one of the training points and the new points has "
                     "thumbnails")
    highlight = np.arange(n_train + n_new) >= n_train
    losses, steps = _losses(model)
    return Map(np.concatenate([model.embedding_, embedding]), metadata, thumbnails, losses,
               parameters, highlight=highlight, loss_steps=steps, details=details)


def _stack_columns(first: dict, n_first: int, second: dict, n_second: int) -> dict:
    """Rows of ``first`` then of ``second``; a column one side lacks is blank there."""
    names = list(first) + [name for name in second if name not in first]
    return {name: list(first.get(name, [""] * n_first)) + list(second.get(name, [""] * n_second))
            for name in names}
