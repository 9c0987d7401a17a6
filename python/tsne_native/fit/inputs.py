"""The input of a run: the data and its labels, metadata and thumbnails, read and checked."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import datasets
from .._validation import check_count, check_data
from ..projector import make_thumbnails, square_side
from ..projector.log import read_metadata
from . import readers

# Rows whose side is at least this many pixels are drawn as square images.
MIN_AUTO_IMAGE_SIDE = 8


@dataclass
class Inputs:
    """The checked input of a run."""

    X: np.ndarray                      # (n, d) float32/float64, finite
    name: str                          # how messages and the plot call the data
    source: dict                       # run.json's "input"
    metadata: dict = field(default_factory=dict)   # column -> n strings
    thumbnails: np.ndarray | None = None           # (n, h, w, c) uint8
    word_vectors: bool = False



def read_inputs(args) -> Inputs:
    """The data and everything that goes with it, checked (counts, shapes, values)."""
    if args.data is None:
        return _demo_inputs(args)
    path = Path(args.data)
    vectors = readers.read_vectors(path, key=args.key)
    X = check_data(vectors.X, name=path.name, min_rows=1 if args.model else 2)
    n_points = X.shape[0]
    labels = vectors.labels
    if args.labels is not None:
        labels = readers.read_labels(args.labels)
        check_count(len(labels), n_points, "labels", f"--labels {args.labels}")
    elif labels is not None:
        check_count(len(labels), n_points, "labels", f"{path.name}: 'y'")
    metadata = _metadata_columns(vectors.words, labels, args.metadata, n_points)
    if args.images is not None:
        images = readers.read_images(args.images)
        check_count(len(images), n_points, "images", f"--images {args.images}")
        thumbnails = make_thumbnails(images, invert=args.invert,
                                               name=f"--images {args.images}")
    elif args.no_sprite or vectors.words is not None or not _rows_are_images(X):
        thumbnails = None
    else:
        thumbnails = make_thumbnails(vectors.X, invert=args.invert, name=path.name)
    source = {"path": str(path.resolve()), "format": vectors.format,
              "sha256": readers.sha256_of(path), "shape": list(X.shape),
              "dtype": str(vectors.X.dtype)}
    if vectors.format == "npz":
        source["key"] = args.key
    return Inputs(X, path.name, source, metadata, thumbnails, vectors.words is not None)


def _demo_inputs(args) -> Inputs:
    X, y = datasets.load_digits()
    source = {"dataset": "digits (UCI optical recognition of handwritten digits, bundled)",
              "sha256": hashlib.sha256(X.tobytes()).hexdigest(), "shape": list(X.shape),
              "dtype": str(X.dtype)}
    thumbnails = None if args.no_sprite else make_thumbnails(X, invert=args.invert)
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
        for name, values in read_metadata(metadata_file).items():
            check_count(len(values), n_points, "rows", f"--metadata {metadata_file}")
            columns[unused_name(name, columns)] = values
    return columns


def unused_name(name: str, taken) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    return candidate


def _rows_are_images(X) -> bool:
    """Whether rows look like square images: side >= 8 pixels, no negative values."""
    side = square_side(X.shape[1])
    return side is not None and side >= MIN_AUTO_IMAGE_SIDE and float(X.min()) >= 0


def thumbnail_note(thumbnails) -> str:
    if thumbnails is None:
        return "none"
    return f"{thumbnails.shape[2]}x{thumbnails.shape[1]} px"
