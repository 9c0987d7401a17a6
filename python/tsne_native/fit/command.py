"""The command line: options, checks of their combinations, and the run from input to log."""

from __future__ import annotations

import argparse
import inspect
import shlex
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import __version__
from .._progress import Progress
from .._validation import check_perplexity, resolve_n_jobs
from ..affinity import METRICS
from ..parametric import AUTO_EPOCHS, AUTO_TRAINING_MULTIPLY_ADDS, ParametricTSNE
from ..projector import check_target
from .cluster import DISTRIBUTE_CHOICES, TF_CONFIG, cluster_task, make_strategy
from .embedding import (
    DEMO_TRAINING,
    METHODS,
    NETWORK_OPTIONS,
    TRAINING_OPTIONS,
    embed_new_points,
    find_model,
    train,
)
from .export import PROG, export
from .inputs import MIN_AUTO_IMAGE_SIDE, read_inputs, thumbnail_note

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

EXAMPLES = f"""\
examples:
  {PROG} --demo --out logs/demo
  {PROG} mnist.npz --out logs/mnist --invert            # X and y inside; 28x28 sprites
  {PROG} wiki.en.vec --out logs/words --labels topics.txt
  {PROG} held_out.npy --model logs/mnist --with-training --out logs/held_out
  export TF_CONFIG='{{"cluster": {{"worker": ["a:2222", "b:2222"]}},
                     "task": {{"type": "worker", "index": 0}}}}'   # on a; "index": 1 on b
  {PROG} mnist.npz --distribute multi-worker --out logs/mnist      # on both machines

  `python -m {__package__}` is the same command.  Then: tensorboard --logdir LOGDIR
"""

_ESTIMATOR_DEFAULTS = {name: parameter.default for name, parameter
                       in inspect.signature(ParametricTSNE.__init__).parameters.items()}


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
        description="Embed vectors with t-SNE and write a log directory for\n"
                    "TensorBoard's embedding projector: a checkpoint of the map, metadata.tsv,\n"
                    "sprite.png thumbnails, plot.png, the trained model and run.json.")
    parser.add_argument("data", nargs="?", metavar="DATA",
                        help=".npy (memory-mapped when large), .npz (array --key, labels from "
                             "'y'), .csv/.tsv of numbers (a header row is detected) or "
                             "word2vec/fastText text vectors .vec/.txt (the words become "
                             "metadata). Without DATA the demo runs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    source = parser.add_argument_group("input")
    source.add_argument("--demo", action="store_true",
                        help="run on the bundled 1,797 8x8 handwritten digits with their "
                             "labels and thumbnails (default: on when DATA is not given)")
    source.add_argument("--key", default="X", help="array to read from an .npz (default: X)")
    source.add_argument("--labels", metavar="FILE",
                        help="one label per point: .npy (1-D) or .txt/.tsv (one per line); "
                             "colours plot.png and the projector's sprite and becomes the "
                             "metadata column 'label' "
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
                        help="do not make thumbnails from square-image rows; with labels the "
                             "projector then draws discs in their colours (default: off)")

    training = parser.add_argument_group(
        "training (not with --model; defaults are the estimator's)")
    training.add_argument("--method", choices=tuple(METHODS),
                          help="parametric: train a network (ParametricTSNE), which later "
                               "embeds new points in one pass, on a GPU when there is one; "
                               "tsne: optimize the map itself (TSNE), the best map of these "
                               "points and the fastest on a CPU, new points placed by a short "
                               "optimization against it (default: parametric)")
    training.add_argument("--perplexity", type=_number(float, 0),
                          help=f"effective number of neighbours "
                               f"(default: {_ESTIMATOR_DEFAULTS['perplexity']:g})")
    training.add_argument("--dims", type=int, choices=(2, 3),
                          help="dimensions of the map "
                               f"(default: {_ESTIMATOR_DEFAULTS['n_components']})")
    training.add_argument("--epochs", type=_number(int, 0),
                          help="training length; an epoch samples as many P-edges as there are "
                               "points (default: as many as "
                               f"{AUTO_TRAINING_MULTIPLY_ADDS:.2g} multiply-adds of the "
                               f"network's forward passes buy, within {AUTO_EPOCHS[0]} to "
                               f"{AUTO_EPOCHS[1]} epochs; {DEMO_TRAINING['epochs']} for the demo)")
    training.add_argument("--hidden-layers", type=_layer_widths, metavar="W1,W2,...",
                          help="widths of the hidden layers (default: "
                               f"{_widths(_ESTIMATOR_DEFAULTS['hidden_layers'])}; "
                               f"{_widths(DEMO_TRAINING['hidden_layers'])} for the demo)")
    training.add_argument("--batch-size", type=_number(int, 0),
                          help=f"points embedded per training step "
                               f"(default: {_ESTIMATOR_DEFAULTS['batch_size']}; "
                               f"{DEMO_TRAINING['batch_size']} for the demo)")
    training.add_argument("--metric", choices=METRICS,
                          help="distance for the neighbours (default: cosine for word vectors, "
                               "euclidean otherwise)")
    training.add_argument("--seed", type=_number(int, 0, inclusive=True),
                          help="random seed; the one used is recorded in run.json (default: "
                               "drawn at random)")
    training.add_argument("--n-jobs", type=_n_jobs,
                          help="threads for the neighbour search and calibration; -1 = all "
                               "cores (default: all cores)")
    training.add_argument("--distribute", choices=DISTRIBUTE_CHOICES,
                          help="train the network (--method parametric) on several devices: "
                               "mirrored: every GPU of this machine; multi-worker: several "
                               "machines, each running this command on the same DATA with its "
                               f"own {TF_CONFIG} environment variable (the cluster's "
                               "host:port addresses and this machine's task). Only the chief "
                               "(the task 'chief', else worker 0) writes the log at --out; the "
                               "other workers check nothing there and write nothing. A worker "
                               "that stops leaves the others waiting: stop them too "
                               "(default: none, one device)")

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

def run(args: argparse.Namespace) -> None:
    """Read, check, train or embed, export; raises ValueError/OSError for bad input."""
    started = time.perf_counter()
    progress = Progress(not args.quiet)
    _check_option_combinations(args)
    args.method = args.method or "parametric"
    task = cluster_task() if args.distribute == "multi-worker" else None
    writes_log = task is None or task.is_chief
    out = _output_directory(args) if writes_log else None
    model_location = find_model(Path(args.model)) if args.model else None
    with progress.stage("read"):
        inputs = read_inputs(args)
    if not args.model:
        _check_perplexity(args.perplexity, len(inputs.X))
    progress.say(f"{inputs.name}: {inputs.X.shape[0]:,} points x {inputs.X.shape[1]:,} "
                 f"features; metadata columns: {', '.join(inputs.metadata) or 'none'}; "
                 f"thumbnails: {thumbnail_note(inputs.thumbnails)} "
                 f"({progress.seconds['read']:.1f} s)")
    if model_location is not None:
        result = embed_new_points(args, inputs, progress, *model_location)
    else:
        # Before anything else runs in TensorFlow (a MultiWorkerMirroredStrategy's rule).
        strategy = make_strategy(args.distribute)
        if task is not None:
            progress.say(f"training as {task}")
        result = train(args, inputs, progress, strategy=strategy)
    if not writes_log:
        progress.say(f"done in {time.perf_counter() - started:.1f} s; the chief writes the log")
        return
    export(args, out, inputs, result, progress, started)
    progress.say(f"done in {time.perf_counter() - started:.1f} s; explore the map with:")
    print(f"tensorboard --logdir {shlex.quote(str(out))}", flush=True)


def _check_perplexity(perplexity, n_points) -> None:
    """Fail before any progress output (the estimator checks too, but later)."""
    perplexity = _ESTIMATOR_DEFAULTS["perplexity"] if perplexity is None else perplexity
    check_perplexity(perplexity, largest=n_points - 1, of=f"{n_points:,} points",
                     label=f"--perplexity {perplexity:g}")


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
        options = ["method", *TRAINING_OPTIONS, *NETWORK_OPTIONS, "seed", "n_jobs", "distribute"]
        given = [option for option in options if getattr(args, option) is not None]
        if given:
            name = "--" + given[0].replace("_", "-")
            raise UsageError(f"{name} does not apply with --model (its map is made)")
    elif args.with_training:
        raise UsageError("--with-training needs --model")
    if args.method == "tsne":
        given = [option for option in NETWORK_OPTIONS if getattr(args, option) is not None]
        if given:
            name = "--" + given[0].replace("_", "-")
            raise UsageError(f"{name} sets the network of --method parametric, not --method tsne")
        if args.distribute not in (None, "none"):
            raise UsageError(f"--distribute {args.distribute} trains the network of --method "
                             "parametric; --method tsne runs on one machine (its threads: "
                             "--n-jobs)")


def _output_directory(args) -> Path:
    """--out (or its default), checked before any work so bad input writes nothing."""
    if args.out is not None:
        out = Path(args.out)
    else:
        out = Path("logs") / ("demo" if args.data is None else Path(args.data).stem)
    try:
        check_target(out, overwrite=args.overwrite)
    except FileExistsError:
        raise FileExistsError(f"--out {out} exists and is not empty; pass --overwrite to "
                              "replace it") from None
    if args.model and Path(args.model).resolve().is_relative_to(out.resolve()):
        raise ValueError(f"--out {out} would replace the model's directory {args.model}")
    return out
