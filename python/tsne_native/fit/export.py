"""The log of a run: written beside --out, with run.json, and renamed into place."""

from __future__ import annotations

import importlib
import platform
import time
from pathlib import Path

from .. import __version__
from .._progress import Progress
from ..projector import staged_directory, write_log, write_summary
from ..projector.log import MODEL_DIR
from .embedding import Map
from .inputs import Inputs

# The command's name: in messages, --help and run.json's "tool".
PROG = "tsne-native"


def export(args, out: Path, inputs: Inputs, result: Map, progress: Progress,
           started: float) -> None:
    """Write the log directory: staged beside ``out``, renamed into place at the end."""
    color_by, legend_title = result.metadata.get("label"), "label"
    if color_by is None and result.highlight is not None:
        color_by, legend_title = result.metadata.get("set"), "set"
    export_started = time.perf_counter()
    with staged_directory(out, overwrite=args.overwrite) as staging:
        if result.model is not None:
            result.model.save(staging / MODEL_DIR)
        files = write_log(
            staging, result.embedding, metadata=result.metadata, thumbnails=result.thumbnails,
            loss_history=result.loss_history, loss_steps=result.loss_steps,
            color_by=color_by, legend_title=legend_title,
            highlight=result.highlight, title=_plot_title(inputs, result))
        progress.seconds["export"] = time.perf_counter() - export_started
        progress.seconds["total"] = time.perf_counter() - started
        write_summary(staging, _summary(args, inputs, result, files, progress))
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
        images = "thumbnails" if "thumbnails" in files else "discs"
        colored = f" coloured by {files['sprite_colors']}" if "sprite_colors" in files else ""
        notes.append(f"sprite.png ({width}x{height} px {images}{colored})")
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
        **({} if result.loss_steps is None else {"loss_steps": result.loss_steps.tolist()}),
        "files": files,
        "timings_s": {name: round(seconds, 3) for name, seconds in progress.seconds.items()},
        "versions": _versions(),
    }


def _versions() -> dict:
    versions = {"tsne_native": __version__, "python": platform.python_version(),
                "platform": platform.platform()}
    for module in ("numpy", "tensorflow", "keras", "tensorboard"):
        versions[module] = getattr(importlib.import_module(module), "__version__", "unknown")
    return versions
