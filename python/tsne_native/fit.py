"""``python -m tsne_native.fit``: vectors in, a TensorBoard projector log out.

Also installed as the ``tsne-native`` console script.  Reads the data (and
labels, metadata, images), checks all of it before any work starts, trains a
:class:`~tsne_native.ParametricTSNE` (or embeds new points with a saved one)
and writes a log directory for ``tensorboard --logdir`` (see
:mod:`tsne_native.projector`).  Bad input ends the command with one line on
stderr and exit status 2; nothing is written then.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import platform
import shlex
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import datasets, io, projector
from ._validation import check_data, resolve_n_jobs
from .parametric import AUTO_EPOCHS, PARAMS_FILE, ParametricTSNE, load

PROG = "tsne-native"
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

_ESTIMATOR_DEFAULTS = {name: parameter.default for name, parameter
                       in inspect.signature(ParametricTSNE.__init__).parameters.items()}
# Command-line option -> ParametricTSNE parameter, for the options that shape
# training (they have no meaning with --model, whose network is trained).
TRAINING_OPTIONS = {"perplexity": "perplexity", "dims": "n_components", "epochs": "n_epochs",
                    "hidden_layers": "hidden_layers", "batch_size": "batch_size",
                    "metric": "metric"}
# Rows whose side is at least this many pixels are drawn as square images.
MIN_AUTO_IMAGE_SIDE = 8
# The demo's training, for its 1,797 digits, where the options do not say
# otherwise: on so few points a step of the default network costs mostly fixed
# overhead, and a narrower network on smaller batches turns the same seconds
# into ten times the steps, which separates all ten digits (the default network
# for 40 epochs did not: bench/RESULTS.md, bench/demo_quality.py).
DEMO_TRAINING = {"epochs": 125, "hidden_layers": (128, 128, 128), "batch_size": 256}

EXAMPLES = f"""\
examples:
  {PROG} --demo --out logs/demo
  {PROG} mnist.npz --out logs/mnist --invert            # X and y inside; 28x28 sprites
  {PROG} wiki.en.vec --out logs/words --labels topics.txt
  {PROG} held_out.npy --model logs/mnist --with-training --out logs/held_out

  `python -m {__package__}.fit` is the same command.  Then: tensorboard --logdir LOGDIR
"""


class UsageError(ValueError):
    """A command-line mistake; reported like any other bad input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line and exit status 2 (from main), instead of argparse's usage dump.
        raise UsageError(f"{message} (see {self.prog} --help)")


# -- the command line ---------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tsne-native`` (every option says its default)."""
    parser = _Parser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Embed vectors with parametric t-SNE and write a log directory for\n"
                    "TensorBoard's embedding projector: a checkpoint of the map, metadata.tsv,\n"
                    "sprite.png thumbnails, plot.png, the trained model and run.json.")
    parser.add_argument("data", nargs="?", metavar="DATA",
                        help=".npy (memory-mapped when large), .npz (array --key, labels from "
                             "'y'), .csv/.tsv of numbers (a header row is detected) or "
                             "word2vec/fastText text vectors .vec/.txt (the words become "
                             "metadata). Without DATA the demo runs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")

    source = parser.add_argument_group("input")
    source.add_argument("--demo", action="store_true",
                        help="run on the bundled 1,797 8x8 handwritten digits with their "
                             "labels and thumbnails (default: on when DATA is not given)")
    source.add_argument("--key", default="X", help="array to read from an .npz (default: X)")
    source.add_argument("--labels", metavar="FILE",
                        help="one label per point: .npy (1-D) or .txt/.tsv (one per line); "
                             "colours plot.png and becomes the metadata column 'label' "
                             "(default: the .npz's 'y' when present, else none)")
    source.add_argument("--metadata", metavar="FILE",
                        help="metadata.tsv-style table, one row per point; a header row when it "
                             "has 2 or more tab-separated columns (default: none)")
    source.add_argument("--images", metavar="FILE",
                        help=".npy of thumbnails for the sprite: (n, h, w), (n, h, w, 1|3|4) or "
                             "(n, side*side) (default: the data rows themselves when they are "
                             f"square images of at least {MIN_AUTO_IMAGE_SIDE}x"
                             f"{MIN_AUTO_IMAGE_SIDE} non-negative values, e.g. 784 -> 28x28)")
    source.add_argument("--invert", action="store_true",
                        help="draw thumbnails as ink on white: high values dark "
                             "(default: off, high values bright)")
    source.add_argument("--no-sprite", action="store_true",
                        help="do not make thumbnails from square-image rows (default: off)")

    training = parser.add_argument_group(
        "training (not with --model; defaults are ParametricTSNE's)")
    training.add_argument("--perplexity", type=_number(float, 0),
                          help=f"effective number of neighbours "
                               f"(default: {_ESTIMATOR_DEFAULTS['perplexity']:g})")
    training.add_argument("--dims", type=int, choices=(2, 3),
                          help="dimensions of the map "
                               f"(default: {_ESTIMATOR_DEFAULTS['n_components']})")
    training.add_argument("--epochs", type=_number(int, 0),
                          help="training length; an epoch samples as many P-edges as there are "
                               "points (default: a fixed budget of sampled edges, up to about "
                               "7.5 minutes on 2 CPU cores with the default network, "
                               f"{AUTO_EPOCHS[0]} to {AUTO_EPOCHS[1]} epochs; "
                               f"{DEMO_TRAINING['epochs']} for the demo)")
    training.add_argument("--hidden-layers", type=_layer_widths, metavar="W1,W2,...",
                          help="widths of the hidden layers (default: "
                               f"{_widths(_ESTIMATOR_DEFAULTS['hidden_layers'])}; "
                               f"{_widths(DEMO_TRAINING['hidden_layers'])} for the demo)")
    training.add_argument("--batch-size", type=_number(int, 0),
                          help=f"points embedded per training step "
                               f"(default: {_ESTIMATOR_DEFAULTS['batch_size']}; "
                               f"{DEMO_TRAINING['batch_size']} for the demo)")
    training.add_argument("--metric", choices=("euclidean", "cosine"),
                          help="distance for the neighbours (default: cosine for word vectors, "
                               "euclidean otherwise)")
    training.add_argument("--seed", type=_number(int, 0, inclusive=True),
                          help="random seed; the one used is recorded in run.json (default: "
                               "drawn at random)")
    training.add_argument("--n-jobs", type=_n_jobs,
                          help="threads for the neighbour search and calibration; -1 = all "
                               "cores (default: all cores)")

    new_points = parser.add_argument_group("new points")
    new_points.add_argument("--model", metavar="DIR",
                            help="embed DATA with the model of an earlier log directory (or a "
                                 "directory saved by ParametricTSNE.save) instead of training "
                                 "(default: train)")
    new_points.add_argument("--with-training", action="store_true",
                            help="with --model: also show the model's training points, with a "
                                 "metadata column 'set' (training/new) telling them apart "
                                 "(default: off, only the new points)")

    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="LOGDIR",
                        help="log directory to create (default: logs/<DATA name>, or logs/demo)")
    output.add_argument("--overwrite", action="store_true",
                        help="replace an existing tsne-native log at --out; other non-empty "
                             "directories are never replaced (default: off)")
    output.add_argument("--quiet", action="store_true",
                        help="print only the final tensorboard command and errors "
                             "(default: off, a line per stage and a training progress bar)")
    return parser


def _number(kind, minimum, *, inclusive=False):
    """An argparse type: a ``kind`` number above ``minimum`` (or equal when inclusive)."""
    noun = "an integer" if kind is int else "a number"
    bound = f">= {minimum}" if inclusive else f"> {minimum}"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}; got {text!r}") from None
        if not np.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {bound}; got {text}")
        return value

    return parse


def _widths(layers) -> str:
    return ",".join(map(str, layers))


def _n_jobs(text):
    try:
        n_jobs = int(text)
        resolve_n_jobs(n_jobs)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err) if text.lstrip("-").isdigit() else
                                         f"expected an integer; got {text!r}") from None
    return n_jobs


def _layer_widths(text):
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 500,500,2000; "
                                         f"got {text!r}")
    return widths


def main(argv=None) -> int:
    """Run the command; returns the exit status (0, 2 for bad input, 130 if interrupted).

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).
    """
    try:
        args = build_parser().parse_args(argv)
        args.command = [PROG, *(sys.argv[1:] if argv is None else argv)]  # for run.json
        with _sigterm_as_interrupt():
            run(args)
    except (ValueError, TypeError, OSError) as err:
        print(f"{PROG}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no log directory was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


@contextmanager
def _sigterm_as_interrupt():
    """Let ``kill PID`` clean up like Ctrl-C does (only the main thread gets signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the run --------------------------------------------------------------------

class Progress:
    """Stage lines on stderr (``[tsne_native] ...``), with their wall times kept."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.seconds = {}

    def say(self, message: str) -> None:
        if not self.quiet:
            print(f"[tsne_native] {message}", file=sys.stderr, flush=True)

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started


@dataclass
class Inputs:
    """The checked input of a run."""

    X: np.ndarray                      # (n, d) float32/float64, finite
    name: str                          # how messages and the plot call the data
    source: dict                       # run.json's "input"
    metadata: dict = field(default_factory=dict)   # column -> n strings
    thumbnails: np.ndarray | None = None           # (n, h, w, c) uint8
    word_vectors: bool = False


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


def run(args: argparse.Namespace) -> None:
    """Read, check, train or embed, export; raises ValueError/OSError for bad input."""
    started = time.perf_counter()
    progress = Progress(args.quiet)
    _check_option_combinations(args)
    out = _output_directory(args)
    model_location = _find_model(Path(args.model)) if args.model else None
    with progress.stage("read"):
        inputs = read_inputs(args)
    if not args.model:
        _check_perplexity(args.perplexity, len(inputs.X))
    progress.say(f"{inputs.name}: {inputs.X.shape[0]:,} points x {inputs.X.shape[1]:,} "
                 f"features; metadata columns: {', '.join(inputs.metadata) or 'none'}; "
                 f"thumbnails: {_thumbnail_note(inputs.thumbnails)} "
                 f"({progress.seconds['read']:.1f} s)")
    if model_location is not None:
        result = embed_new_points(args, inputs, progress, *model_location)
    else:
        result = train(args, inputs, progress)
    export(args, out, inputs, result, progress, started)
    progress.say(f"done in {time.perf_counter() - started:.1f} s; explore the map with:")
    print(f"tensorboard --logdir {shlex.quote(str(out))}", flush=True)


def _check_perplexity(perplexity, n_points) -> None:
    """Fail before any progress output (the estimator checks too, but later)."""
    perplexity = _ESTIMATOR_DEFAULTS["perplexity"] if perplexity is None else perplexity
    if perplexity > n_points - 1:
        raise ValueError(f"--perplexity {perplexity:g} is too large for {n_points:,} points; "
                         f"the largest allowed is {n_points - 1:,}")


def _check_option_combinations(args) -> None:
    demo = args.demo or args.data is None
    if args.demo and args.data is not None:
        raise UsageError(f"give DATA or --demo, not both (see {PROG} --help)")
    if demo:
        for option in ("labels", "metadata", "images"):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option} does not apply to the demo, which brings its own")
        if args.model:
            raise UsageError("--model needs DATA: the new points to embed")
    if args.model:
        given = [option for option in TRAINING_OPTIONS if getattr(args, option) is not None]
        given += [option for option in ("seed", "n_jobs") if getattr(args, option) is not None]
        if given:
            name = "--" + given[0].replace("_", "-")
            raise UsageError(f"{name} does not apply with --model (its network is trained)")
    elif args.with_training:
        raise UsageError("--with-training needs --model")


def _output_directory(args) -> Path:
    """--out (or its default), checked before any work so bad input writes nothing."""
    if args.out is not None:
        out = Path(args.out)
    else:
        out = Path("logs") / ("demo" if args.data is None else Path(args.data).stem)
    try:
        projector.check_target(out, overwrite=args.overwrite)
    except FileExistsError:
        raise FileExistsError(f"--out {out} exists and is not empty; pass --overwrite to "
                              "replace it") from None
    if args.model and Path(args.model).resolve().is_relative_to(out.resolve()):
        raise ValueError(f"--out {out} would replace the model's directory {args.model}")
    return out


def read_inputs(args) -> Inputs:
    """The data and everything that goes with it, checked (counts, shapes, values)."""
    if args.data is None:
        return _demo_inputs(args)
    path = Path(args.data)
    vectors = io.read_vectors(path, key=args.key)
    X = check_data(vectors.X, name=path.name, min_rows=1 if args.model else 2)
    n_points = X.shape[0]
    labels = vectors.labels
    if args.labels is not None:
        labels = io.read_labels(args.labels)
        _check_count(f"--labels {args.labels} has", len(labels), "labels", n_points)
    elif labels is not None:
        _check_count(f"{path.name}: 'y' has", len(labels), "labels", n_points)
    metadata = _metadata_columns(vectors.words, labels, args.metadata, n_points)
    if args.images is not None:
        images = io.read_images(args.images)
        _check_count(f"--images {args.images} has", len(images), "images", n_points)
        thumbnails = projector.make_thumbnails(images, invert=args.invert,
                                               name=f"--images {args.images}")
    elif args.no_sprite or vectors.words is not None or not _rows_are_images(X):
        thumbnails = None
    else:
        thumbnails = projector.make_thumbnails(vectors.X, invert=args.invert, name=path.name)
    source = {"path": str(path.resolve()), "format": vectors.format,
              "sha256": io.sha256_of(path), "shape": list(X.shape),
              "dtype": str(vectors.X.dtype)}
    if vectors.format == "npz":
        source["key"] = args.key
    return Inputs(X, path.name, source, metadata, thumbnails, vectors.words is not None)


def _demo_inputs(args) -> Inputs:
    X, y = datasets.load_digits()
    source = {"dataset": "digits (UCI optical recognition of handwritten digits, bundled)",
              "sha256": hashlib.sha256(X.tobytes()).hexdigest(), "shape": list(X.shape),
              "dtype": str(X.dtype)}
    thumbnails = None if args.no_sprite else projector.make_thumbnails(X, invert=args.invert)
    metadata = {"label": [str(label) for label in y.tolist()]}
    return Inputs(check_data(X, name="digits"), "digits", source, metadata, thumbnails)


def _metadata_columns(words, labels, metadata_file, n_points) -> dict:
    """Metadata columns in order: word, label, then the --metadata file's columns."""
    columns = {}
    if words is not None:
        columns["word"] = words
    if labels is not None:
        columns["label"] = [str(label) for label in labels.tolist()]
    if metadata_file is not None:
        for name, values in io.read_metadata(metadata_file).items():
            _check_count(f"--metadata {metadata_file} has", len(values), "rows", n_points)
            columns[_unused_name(name, columns)] = values
    return columns


def _unused_name(name: str, taken) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    return candidate


def _rows_are_images(X) -> bool:
    """Whether rows look like square images: side >= 8 pixels, no negative values."""
    side = projector.square_side(X.shape[1])
    return side is not None and side >= MIN_AUTO_IMAGE_SIDE and float(X.min()) >= 0


def _check_count(what: str, count: int, noun: str, n_points: int) -> None:
    if count != n_points:
        raise ValueError(f"{what} {count:,} {noun} for {n_points:,} points")


def _thumbnail_note(thumbnails) -> str:
    if thumbnails is None:
        return "none"
    return f"{thumbnails.shape[2]}x{thumbnails.shape[1]} px"


# -- training and embedding ---------------------------------------------------

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
                 f"{model.perplexity:g}, {model.metric} distances, {model.n_epochs or 'automatic'} epochs, "
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


def _find_model(path: Path) -> tuple[Path, Path | None]:
    """``(model directory, log directory or None)`` for a log or a saved model."""
    if (path / projector.MODEL_DIR / PARAMS_FILE).is_file():
        return path / projector.MODEL_DIR, path
    if (path / PARAMS_FILE).is_file():
        return path, None
    raise ValueError(f"--model {path} is neither a tsne-native log directory nor a saved "
                     f"ParametricTSNE (no {projector.MODEL_DIR}/{PARAMS_FILE} or {PARAMS_FILE})")


def _with_training_points(model, training_log, embedding, inputs, parameters, details,
                          progress) -> Map:
    """The model's training embedding followed by the new points, with a 'set' column."""
    training = {"metadata": {}, "thumbnails": None}
    if training_log is not None:
        training = projector.read_log(training_log)
    n_train, n_new = len(model.embedding_), len(embedding)
    for name, values in training["metadata"].items():
        _check_count(f"{training_log}: metadata column {name!r} has", len(values), "rows",
                     n_train)
    metadata = _stack_columns(training["metadata"], n_train, inputs.metadata, n_new)
    metadata[_unused_name("set", metadata)] = ["training"] * n_train + ["new"] * n_new
    thumbnails = None
    if training["thumbnails"] is not None and inputs.thumbnails is not None:
        thumbnails = projector.concatenate_thumbnails(training["thumbnails"], inputs.thumbnails)
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


# -- export -------------------------------------------------------------------

def export(args, out: Path, inputs: Inputs, result: Map, progress: Progress,
           started: float) -> None:
    """Write the log directory: staged beside ``out``, renamed into place at the end."""
    color_by, legend_title = result.metadata.get("label"), "label"
    if color_by is None and result.highlight is not None:
        color_by, legend_title = result.metadata.get("set"), "set"
    export_started = time.perf_counter()
    with projector.staged_directory(out, overwrite=args.overwrite) as staging:
        if result.model is not None:
            result.model.save(staging / projector.MODEL_DIR)
        files = projector.write_log(
            staging, result.embedding, metadata=result.metadata, thumbnails=result.thumbnails,
            loss_history=result.loss_history, color_by=color_by, legend_title=legend_title,
            highlight=result.highlight, title=_plot_title(inputs, result))
        progress.seconds["export"] = time.perf_counter() - export_started
        progress.seconds["total"] = time.perf_counter() - started
        projector.write_summary(staging, _summary(args, inputs, result, files, progress))
    progress.say(f"wrote {out}: {_files_note(files, len(result.embedding))} "
                 f"({progress.seconds['export']:.1f} s)")


def _plot_title(inputs: Inputs, result: Map) -> str:
    parameters = result.parameters
    title = (f"{inputs.name}: {len(result.embedding):,} points, perplexity "
             f"{parameters['perplexity']:g}")
    if result.details["mode"] == "fit":
        title += f", KL {result.details['kl_divergence']:.2f}"
    return title


def _files_note(files: dict, n_points: int) -> str:
    notes = ["checkpoint", "projector_config.pbtxt"]
    if "metadata" in files:
        notes.append(f"metadata.tsv ({n_points:,} rows: {', '.join(files['metadata_columns'])})")
    if "sprite" in files:
        width, height = files["single_image_dim"]
        notes.append(f"sprite.png ({width}x{height} px thumbnails)")
    notes += ["plot.png", "embedding.npy", "loss scalars", "run.json"]
    return ", ".join(notes)


def _summary(args, inputs: Inputs, result: Map, files: dict, progress: Progress) -> dict:
    return {
        "tool": PROG,
        "command": getattr(args, "command", None),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **result.details,
        "input": inputs.source,
        "n_points": len(result.embedding),
        "parameters": result.parameters,
        "loss_history": result.loss_history.tolist(),
        "files": files,
        "timings_s": {name: round(seconds, 3) for name, seconds in progress.seconds.items()},
        "versions": _versions(),
    }


def _versions() -> dict:
    versions = {"tsne_native": _version(), "python": platform.python_version(),
                "platform": platform.platform()}
    for module in ("numpy", "tensorflow", "keras", "tensorboard"):
        versions[module] = getattr(importlib.import_module(module), "__version__", "unknown")
    return versions


def _version() -> str:
    from . import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
