"""Readers for the command line: data matrices, labels and images.

Each reader raises ``ValueError`` naming the file and what is wrong with it
(``FileNotFoundError`` or another ``OSError`` when the file system refuses),
so a caller can report any of them in one line.  No TensorFlow here: the
command line reads and checks everything before it starts training.
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import check_file, read_text

# .npy files larger than this are memory-mapped instead of read: the data is
# then paged in once, by the checks and the conversion to float32.
MMAP_THRESHOLD_BYTES = 64 << 20

WORD_VECTOR_SUFFIXES = (".vec", ".txt")
VECTOR_SUFFIXES = (".npy", ".npz", ".csv", ".tsv") + WORD_VECTOR_SUFFIXES
LABEL_SUFFIXES = (".npy", ".txt", ".tsv", ".csv")


@dataclass(frozen=True)
class Vectors:
    """What :func:`read_vectors` found in a file.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        The numbers as stored (any numeric dtype; a read-only memory map for
        a large ``.npy``).  Not yet checked for NaN or infinity.
    labels : ndarray of shape (n_samples,) or None
        The ``y`` array of an ``.npz`` file, when it has one.
    words : list of str or None
        The words of a word-vector text file, one per row of ``X``.
    format : str
        ``"npy"``, ``"npz"``, ``"csv"``, ``"tsv"``, ``"word vectors"`` or
        ``"text matrix"``.
    """

    X: np.ndarray
    labels: np.ndarray | None = None
    words: list[str] | None = None
    format: str = ""


def read_vectors(path, *, key: str = "X") -> Vectors:
    """Read a data matrix, one point per row, choosing the reader by suffix.

    Parameters
    ----------
    path : str or path-like
        ``.npy`` (memory-mapped when larger than 64 MiB); ``.npz`` (the array
        ``key``, with labels from ``y`` when present); ``.csv`` / ``.tsv`` of
        numbers (a first row with any non-number is a header and skipped);
        ``.vec`` / ``.txt`` in the word2vec/fastText text format: an optional
        first line ``count dim``, then ``word v1 ... vd`` per line (a ``.txt``
        whose first field is a number and that has no such header is read as a
        whitespace-separated matrix instead).
    key : str, default="X"
        The array to take from an ``.npz`` file.

    Returns
    -------
    Vectors

    Raises
    ------
    ValueError
        For an unknown suffix or content that the format does not allow (the
        message names the file, and the line where there is one).
    FileNotFoundError
        When ``path`` does not exist.
    """
    path = check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return Vectors(_load_npy(path), format="npy")
    if suffix == ".npz":
        return _read_npz(path, key)
    if suffix in (".csv", ".tsv"):
        return Vectors(_read_delimited(path, "," if suffix == ".csv" else "\t"), format=suffix[1:])
    if suffix in WORD_VECTOR_SUFFIXES:
        return _read_word_vectors(path)
    raise ValueError(f"{path}: unknown data format {path.suffix!r}; use one of "
                     f"{', '.join(VECTOR_SUFFIXES)}")


def read_labels(path) -> np.ndarray:
    """Read one label per point.

    Parameters
    ----------
    path : str or path-like
        ``.npy`` holding a 1-D array (or one column), or a text file
        (``.txt``, ``.tsv``, ``.csv``) with one label per line and no header.

    Returns
    -------
    ndarray of shape (n_samples,)
        Numbers as stored in an ``.npy``; strings (dtype ``str``) from text.

    Raises
    ------
    ValueError
        For an unknown suffix, an array that is not one column, or a text
        file with several columns (a table belongs in the metadata).
    """
    path = check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        labels = _load_npy(path)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise ValueError(f"{path}: labels must be a 1-D array; got shape {labels.shape}")
        return np.asarray(labels)
    if suffix not in LABEL_SUFFIXES:
        raise ValueError(f"{path}: unknown label format {path.suffix!r}; use one of "
                         f"{', '.join(LABEL_SUFFIXES)}")
    lines = read_text(path).splitlines()
    delimiter = {".tsv": "\t", ".csv": ","}.get(suffix)
    if delimiter is not None:
        for number, line in enumerate(lines, 1):
            if delimiter in line:
                raise ValueError(f"{path}, line {number}: labels need one value per line, "
                                 "but this line has several columns (a table is metadata)")
    return np.array(lines, dtype=str)


def read_images(path) -> np.ndarray:
    """Read thumbnail images for the sprite from an ``.npy`` file.

    Parameters
    ----------
    path : str or path-like
        ``.npy`` of shape (n, height, width), (n, height, width, channels) or
        (n, side * side); memory-mapped when large.

    Returns
    -------
    ndarray
        As stored; :func:`tsne_native.projector.make_thumbnails` checks the
        shape and scales the values.
    """
    path = check_file(path)
    if path.suffix.lower() != ".npy":
        raise ValueError(f"{path}: images must be an .npy file; got {path.suffix!r}")
    return _load_npy(path)


def sha256_of(path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- helpers ----------------------------------------------------------------

def _load_npy(path: Path) -> np.ndarray:
    mmap_mode = "r" if path.stat().st_size > MMAP_THRESHOLD_BYTES else None
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npy array ({_one_line(err)})") from None


def _read_npz(path: Path, key: str) -> Vectors:
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = archive.files
            arrays = {name: archive[name] for name in (key, "y") if name in names}
    except (ValueError, EOFError, AttributeError, zipfile.BadZipFile) as err:
        # AttributeError: np.load gave a plain array (an .npy file named .npz).
        raise ValueError(f"{path}: not a readable .npz archive ({_one_line(err)})") from None
    if key not in arrays:
        raise ValueError(f"{path} has no array {key!r}; it holds {', '.join(names) or 'none'}")
    labels = arrays.get("y") if key != "y" else None
    return Vectors(arrays[key], labels=labels, format="npz")


def _is_number(field: str) -> bool:
    try:
        float(field.strip().strip('"'))
    except ValueError:
        return False
    return True


def _first_line(path: Path) -> str:
    """The first non-blank line of a text file ('' for an empty file)."""
    try:
        with open(path, encoding="utf-8") as stream:
            return next((line for line in stream if line.strip()), "")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start})") from None


def _read_delimited(path: Path, delimiter: str | None, *, header: bool | None = None):
    """A matrix of numbers from delimited text; a non-numeric first row is a header.

    ``delimiter=None`` means runs of whitespace.
    """
    if header is None:
        header = not all(_is_number(f) for f in _first_line(path).split(delimiter))
    try:
        with warnings.catch_warnings():
            # An empty table is reported by the caller's row count, not a warning.
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(path, delimiter=delimiter, skiprows=int(header), ndmin=2,
                              quotechar='"', encoding="utf-8")
    except ValueError:
        # numpy's messages count rows inconsistently; find the line ourselves.
        raise ValueError(f"{path}: {_first_bad_line(path, delimiter, header)}") from None


def _first_bad_line(path: Path, delimiter: str | None, header: bool) -> str:
    """Describe the first line that is not a row of numbers as wide as the first row."""
    width = None
    with open(path, encoding="utf-8", errors="replace") as stream:
        for number, line in enumerate(stream, 1):
            if (header and number == 1) or not line.strip():
                continue
            fields = line.rstrip("\r\n").split(delimiter)
            width = width or len(fields)
            if len(fields) != width:
                return f"line {number} has {len(fields)} fields; the first row has {width}"
            for column, field in enumerate(fields, 1):
                if not _is_number(field):
                    return f"line {number}, column {column}: {field.strip()!r} is not a number"
    return "not a table of numbers"


def _word2vec_header(line: str) -> tuple[int, int] | None:
    """``(count, dim)`` when the line is a word2vec/fastText ``count dim`` header."""
    fields = line.split()
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[0]), int(fields[1])
    return None


def _read_word_vectors(path: Path) -> Vectors:
    first = _first_line(path)
    header = _word2vec_header(first)
    fields = first.split()
    if header is None and fields and _is_number(fields[0]):
        return Vectors(_read_delimited(path, None, header=False), format="text matrix")
    if header is not None:
        count, dim = header
    else:
        count, dim = None, len(fields) - 1
    if dim < 1:
        raise ValueError(f"{path}: expected lines 'word v1 ... vd' (word2vec/fastText text "
                         "format); the first line has no numbers")
    words, rows = [], []
    try:
        with open(path, encoding="utf-8") as stream:
            for number, line in enumerate(stream, 1):
                if (header is not None and number == 1) or not line.strip():
                    continue
                word, values = _word_vector_line(line, dim, path, number)
                words.append(word)
                rows.append(values)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason})") from None
    if count is not None and count != len(words):
        raise ValueError(f"{path}: the header announces {count} vectors, but the file "
                         f"holds {len(words)}")
    X = np.stack(rows) if rows else np.empty((0, dim), dtype=np.float32)
    return Vectors(X, words=words, format="word vectors")


def _word_vector_line(line: str, dim: int, path: Path, number: int):
    """``(word, float32 values)`` of one ``word v1 ... vd`` line."""
    # Split from the right: some vocabularies (GloVe 840B) hold words with spaces.
    parts = line.rsplit(maxsplit=dim)
    if len(parts) != dim + 1:
        raise ValueError(f"{path}, line {number}: expected a word and {dim} numbers; got "
                         f"{len(line.split())} fields")
    try:
        return parts[0], np.array(parts[1:], dtype=np.float32)
    except ValueError:
        bad = next(p for p in parts[1:] if not _is_number(p))
        raise ValueError(f"{path}, line {number}: {bad!r} is not a number") from None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())

