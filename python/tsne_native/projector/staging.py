"""Replacing a log directory atomically, and run.json, the marker of a complete log."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SUMMARY_FILE = "run.json"


def write_summary(directory, summary: dict) -> None:
    """Write ``run.json`` (last: its presence marks a complete log directory)."""
    text = json.dumps(summary, indent=2, default=_json_default) + "\n"
    (Path(directory) / SUMMARY_FILE).write_text(text, encoding="utf-8")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def check_target(target, *, overwrite: bool = False) -> None:
    """Check that a log may be written to ``target`` (before any work is done).

    Raises
    ------
    FileExistsError
        When ``target`` is a non-empty directory and ``overwrite`` is false.
    ValueError
        When ``target`` is not a directory, or is a non-empty directory other
        than a complete tsne-native log (never replaced, even with ``overwrite``).
    """
    target = Path(target)
    if not target.exists():
        return
    if not target.is_dir():
        raise ValueError(f"{target} exists and is not a directory")
    if not any(target.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{target} exists and is not empty")
    if not (target / SUMMARY_FILE).is_file():
        raise ValueError(f"{target} is not a tsne-native log directory (no {SUMMARY_FILE}); "
                         "refusing to replace it")


@contextmanager
def staged_directory(target, *, overwrite: bool = False):
    """Yield an empty directory beside ``target`` that replaces it on success.

    On an exception (or Ctrl-C) the staged directory is removed and
    ``target`` is left as it was.  With ``overwrite`` a previous tsne-native
    log at ``target`` is replaced; otherwise only a missing or empty
    ``target`` is.
    """
    target = Path(target)
    check_target(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Beside the target, so the final rename stays on one file system; mkdir
    # (unlike mkdtemp's 0700) gives the log the user's usual permissions.
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
    staging.mkdir()
    try:
        yield staging
        _move_into_place(staging, target, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _move_into_place(staging: Path, target: Path, *, overwrite: bool) -> None:
    # Checked again: something may have appeared at the target while we worked.
    check_target(target, overwrite=overwrite)
    if not (target.exists() and any(target.iterdir())):
        os.replace(staging, target)  # an empty directory is replaced atomically
        return
    old = target.parent / f".{target.name}.replaced-{uuid.uuid4().hex[:8]}"
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
