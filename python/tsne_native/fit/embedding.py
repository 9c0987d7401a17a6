"""The map of a run: a ParametricTSNE trained with the command's options, or a saved one applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._progress import Progress
from .._validation import check_count
from ..parametric import PARAMS_FILE, ParametricTSNE, load
from ..projector import concatenate_thumbnails, read_log
from ..projector.log import MODEL_DIR
from .inputs import Inputs, unused_name

# Command-line option -> ParametricTSNE parameter, for the options that shape
# training (they have no meaning with --model, whose network is trained).
TRAINING_OPTIONS = {"perplexity": "perplexity", "dims": "n_components", "epochs": "n_epochs",
                    "hidden_layers": "hidden_layers", "batch_size": "batch_size",
                    "metric": "metric"}
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
    model: ParametricTSNE | None = None      # saved into the log when trained here
    highlight: np.ndarray | None = None
    details: dict = field(default_factory=dict)



def train(args, inputs: Inputs, progress: Progress) -> Map:
    """Fit a ParametricTSNE with the command's options (the estimator's defaults otherwise)."""
    seed = args.seed if args.seed is not None else int(np.random.default_rng().integers(2**31))
    params = {parameter: getattr(args, option) for option, parameter in TRAINING_OPTIONS.items()
              if getattr(args, option) is not None}
    if args.metric is None and inputs.word_vectors:
        params["metric"] = "cosine"
    if args.demo or args.data is None:
        params = {TRAINING_OPTIONS[option]: value for option, value in DEMO_TRAINING.items()
                  if getattr(args, option) is None} | params
    model = ParametricTSNE(**params, n_jobs=args.n_jobs, random_state=seed,
                           verbose=not args.quiet)
    progress.say(f"parametric t-SNE: {model.n_components}-D map, perplexity "
                 f"{model.perplexity:g}, {model.metric} distances, "
                 f"{model.n_epochs or 'automatic'} epochs, "
                 f"hidden layers {'-'.join(map(str, model.hidden_layers))}, seed {seed}")
    model.fit(inputs.X)
    progress.seconds.update(model.fit_seconds_)
    parameters = model.get_params()
    del parameters["strategy"], parameters["verbose"]
    return Map(model.embedding_, inputs.metadata, inputs.thumbnails, model.loss_history_,
               parameters, model=model,
               details={"mode": "fit", "kl_divergence": model.kl_divergence_, "model": "model"})


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
    parameters = model.get_params()
    del parameters["strategy"], parameters["verbose"]
    details = {"mode": "transform", "model": str(model_dir.resolve()),
               "with_training": args.with_training}
    if not args.with_training:
        return Map(embedding, inputs.metadata, inputs.thumbnails, model.loss_history_,
                   parameters, details=details)
    return _with_training_points(model, training_log, embedding, inputs, parameters, details,
                                 progress)


def find_model(path: Path) -> tuple[Path, Path | None]:
    """``(model directory, log directory or None)`` for a log or a saved model."""
    if (path / MODEL_DIR / PARAMS_FILE).is_file():
        return path / MODEL_DIR, path
    if (path / PARAMS_FILE).is_file():
        return path, None
    raise ValueError(f"--model {path} is neither a tsne-native log directory nor a saved "
                     f"ParametricTSNE (no {MODEL_DIR}/{PARAMS_FILE} or {PARAMS_FILE})")


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
    return Map(np.concatenate([model.embedding_, embedding]), metadata, thumbnails,
               model.loss_history_, parameters, highlight=highlight, details=details)


def _stack_columns(first: dict, n_first: int, second: dict, n_second: int) -> dict:
    """Rows of ``first`` then of ``second``; a column one side lacks is blank there."""
    names = list(first) + [name for name in second if name not in first]
    return {name: list(first.get(name, [""] * n_first)) + list(second.get(name, [""] * n_second))
            for name in names}
