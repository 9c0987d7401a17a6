"""TensorBoard projector export: the log directory that ``tensorboard --logdir`` shows.

A log directory holds

- ``embedding.ckpt-1.*`` and ``checkpoint``: a TF2 checkpoint of the embedding
  variable, found by the projector through the ``checkpoint`` file (whose path
  is relative, so the directory can be moved);
- ``projector_config.pbtxt``: names the checkpoint key as ``tensor_name`` and
  points, by relative paths, at
- ``bookmarks.json``: one saved projector state, listed in the Bookmarks panel
  (which opens by itself): the map in 2-D (or 3-D), coloured by the label
  column, one click away;
- ``metadata.tsv``: one row per point in embedding order, with a header row
  only when there are two or more columns (the projector's rule);
- ``sprite.png``: the thumbnails tiled row-major on a square canvas of at most
  8192 x 8192 pixels (the projector's limit);
- ``embedding.npy`` (the map itself), ``plot.png`` (a scatter plot coloured by label) and the
  loss per epoch as TensorBoard scalars (``events.out.tfevents.*``; an event
  file also makes the directory a run when several share a parent log
  directory);
- ``run.json``: what made the map (written last; it marks a complete log).

:func:`staged_directory` builds it beside the target and renames it into
place at the end, so a failed or interrupted export leaves no half-written log.
TensorFlow and matplotlib are imported only by the functions that write with
them, so reading and checking inputs stays quick.

What the Projector tab draws on opening is fixed by TensorBoard, not by the
log: the PCA tab in 3-D, "Color by: No color map", bookmarks listed but not
loaded.  A 2-column tensor draws nothing there (its third component is NaN),
so the checkpoint holds the map laid out by :func:`projector_tensor`, which
that default view draws as the map itself.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .io import read_metadata

BOOKMARKS_FILE = "bookmarks.json"
CHECKPOINT_PREFIX = "embedding.ckpt"
CONFIG_FILE = "projector_config.pbtxt"
EMBEDDING_FILE = "embedding.npy"
METADATA_FILE = "metadata.tsv"
MODEL_DIR = "model"
PLOT_FILE = "plot.png"
SPRITE_FILE = "sprite.png"
SUMMARY_FILE = "run.json"

# The projector refuses sprite images larger than this (pixels per side).
MAX_SPRITE_SIDE = 8192
# The projector skips blank metadata lines, which would shift every later row.
BLANK_ROW_PLACEHOLDER = "(blank)"
# Categories coloured individually in plot.png; more share "other" or a colour map.
MAX_LEGEND_ENTRIES = 20
OTHER_COLOR = "#bbbbbb"
# The projector colours by a metadata column only when it is numeric or has at
# most this many distinct values (TensorBoard 2.21's data panel).
MAX_PROJECTOR_COLORS = 50
# Where projector_tensor puts a map, in standard deviations of its widest axis
# from the origin: far enough that the offset, not the map, sets the order of
# the projector's (uncentered) principal axes.
PROJECTOR_OFFSET_SPREADS = 10.0
# The mixed second moment projector_tensor leaves between a 2-D map's axes, as a
# share of the first axis's: it turns the projector's axes by about this many
# radians (invisible) and keeps the sign of each axis the same for every map.
PROJECTOR_TILT = 1e-4
# The signs the projector's PCA (numeric.js's SVD, TensorBoard 2.21) gives the
# axes of such a map: both come out negated (seen for wide, tall, round and
# 60,000-point maps); projector_tensor negates them first, so the projector
# shows the map the right way round.  The browser test checks it.
PROJECTOR_PCA_SIGNS = (-1.0, -1.0)
# Images scaled per block, to bound the float copy of memory-mapped inputs.
_IMAGES_PER_BLOCK = 8192


# -- thumbnails and the sprite ----------------------------------------------

def square_side(n_values: int) -> int | None:
    """The side of a square image of ``n_values`` pixels, or None when not square."""
    side = math.isqrt(n_values)
    return side if side > 0 and side * side == n_values else None


def make_thumbnails(images, *, invert: bool = False, name: str = "images") -> np.ndarray:
    """Scale images to 8-bit thumbnails for the sprite.

    Values are mapped linearly from ``[min(0, lowest), highest]`` to
    ``[0, 255]`` (one range for all images, so brightness is comparable);
    with ``invert`` high values come out dark (ink on white).

    Parameters
    ----------
    images : array_like of shape (n, h, w), (n, h, w, channels) or (n, side * side)
        Real numbers; ``channels`` is 1 (grey), 3 (RGB) or 4 (RGBA); rows of
        ``side * side`` values are square images.
    invert : bool, default=False
        Draw high values dark.
    name : str, default="images"
        How error messages call the images.

    Returns
    -------
    ndarray of shape (n, height, width, channels), dtype uint8

    Raises
    ------
    ValueError
        For another shape, a non-numeric dtype, or NaN/infinite values.
    """
    array = np.asarray(images)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers; got dtype {array.dtype}")
    if array.ndim == 2 and square_side(array.shape[1]):
        side = square_side(array.shape[1])
        array = array.reshape(array.shape[0], side, side)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim != 4 or array.shape[3] not in (1, 3, 4) or 0 in array.shape[1:3]:
        raise ValueError(f"{name} have shape {np.shape(images)}; expected (n, height, width), "
                         "(n, height, width, 1|3|4) or (n, side*side) with a square number "
                         "of pixels")
    low, high = _value_range(array, name)
    span = high - low if high > low else 1.0
    thumbnails = np.empty(array.shape, dtype=np.uint8)
    for start in range(0, array.shape[0], _IMAGES_PER_BLOCK):
        block = slice(start, start + _IMAGES_PER_BLOCK)
        scaled = np.rint((array[block].astype(np.float64) - low) * (255.0 / span))
        thumbnails[block] = 255 - scaled if invert else scaled
    return thumbnails


def _value_range(array: np.ndarray, name: str) -> tuple[float, float]:
    """``(min(0, lowest), highest)``; raises for NaN or infinity, naming the image."""
    low, high = 0.0, -np.inf
    for start in range(0, array.shape[0], _IMAGES_PER_BLOCK):
        block = array[start:start + _IMAGES_PER_BLOCK]
        if block.dtype.kind == "f":
            finite = np.isfinite(block).reshape(block.shape[0], -1).all(axis=1)
            if not finite.all():
                image = start + int(np.flatnonzero(~finite)[0])
                raise ValueError(f"{name} contain NaN or infinity (first in image {image})")
        if block.size:
            low, high = min(low, float(block.min())), max(high, float(block.max()))
    return low, max(high, low)


def sprite_image(thumbnails: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Tile thumbnails row-major on a square canvas the projector accepts.

    Parameters
    ----------
    thumbnails : ndarray of shape (n, height, width, channels), dtype uint8

    Returns
    -------
    canvas : ndarray of shape (grid * h, grid * w, channels), dtype uint8
        ``grid = ceil(sqrt(n))``; unused tiles are black.  Thumbnails are
        shrunk to ``h x w`` when the full size would exceed 8192 pixels.
    single_image_dim : tuple of int
        ``(w, h)``, width first, as the projector config wants it.
    """
    count, height, width, channels = thumbnails.shape
    grid = max(1, math.isqrt(count - 1) + 1) if count else 1
    shrink = min(1.0, MAX_SPRITE_SIDE / (grid * max(height, width)))
    if shrink < 1.0:
        height, width = int(height * shrink), int(width * shrink)
        if min(height, width) < 1:
            raise ValueError(f"{count} thumbnails do not fit a {MAX_SPRITE_SIDE}-pixel sprite")
        thumbnails = resize_thumbnails(thumbnails, (height, width))
    tiles = np.zeros((grid * grid, height, width, channels), dtype=np.uint8)
    tiles[:count] = thumbnails
    canvas = tiles.reshape(grid, grid, height, width, channels).transpose(0, 2, 1, 3, 4)
    return canvas.reshape(grid * height, grid * width, channels), (width, height)


def thumbnails_from_sprite(path, single_image_dim, count: int) -> np.ndarray:
    """Cut the first ``count`` thumbnails back out of a sprite PNG.

    Returns
    -------
    ndarray of shape (count, h, w, channels), dtype uint8
        ``(w, h) = single_image_dim``.
    """
    from PIL import Image

    width, height = (int(v) for v in single_image_dim)
    with Image.open(path) as image:
        mode = image.mode if image.mode in ("L", "RGB", "RGBA") else "RGBA"
        pixels = np.asarray(image.convert(mode))
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    rows, columns = pixels.shape[0] // height, pixels.shape[1] // width
    if rows * columns < count:
        raise ValueError(f"{path} holds {rows * columns} thumbnails of {width}x{height}, "
                         f"fewer than the {count} points")
    pixels = pixels[:rows * height, :columns * width]
    tiles = pixels.reshape(rows, height, columns, width, -1).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(rows * columns, height, width, -1)[:count]


def resize_thumbnails(thumbnails: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 thumbnails (n, h, w, c) to ``size = (height, width)`` (box filter)."""
    from PIL import Image

    height, width = size
    if thumbnails.shape[1:3] == (height, width):
        return thumbnails
    resized = np.empty((thumbnails.shape[0], height, width, thumbnails.shape[3]), np.uint8)
    for index, thumbnail in enumerate(thumbnails):
        image = Image.fromarray(_squeeze_grey(thumbnail))
        resized[index] = np.asarray(image.resize((width, height), Image.Resampling.BOX)
                                    ).reshape(height, width, -1)
    return resized


def concatenate_thumbnails(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Stack two sets of thumbnails, bringing them to a common size and channel count.

    The second set is resized to the first's size; grey thumbnails become
    RGB (and RGB becomes RGBA) when the other set has colour (or alpha).
    """
    channels = max(first.shape[3], second.shape[3])
    second = resize_thumbnails(second, first.shape[1:3])
    return np.concatenate([_with_channels(first, channels), _with_channels(second, channels)])


def _with_channels(thumbnails: np.ndarray, channels: int) -> np.ndarray:
    if thumbnails.shape[3] == 1 and channels > 1:
        thumbnails = np.repeat(thumbnails, 3, axis=3)
    if thumbnails.shape[3] == 3 and channels == 4:
        opaque = np.full(thumbnails.shape[:3] + (1,), 255, dtype=np.uint8)
        thumbnails = np.concatenate([thumbnails, opaque], axis=3)
    return thumbnails


def _squeeze_grey(pixels: np.ndarray) -> np.ndarray:
    """Pillow wants (h, w) for grey images, (h, w, c) for colour."""
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


# -- the log directory --------------------------------------------------------

def write_log(directory, embedding, *, metadata=None, thumbnails=None, loss_history=None,
              color_by=None, legend_title="label", highlight=None, title=""):
    """Write everything but ``run.json`` into an existing, empty ``directory``.

    Parameters
    ----------
    directory : str or path-like
        Usually the one :func:`staged_directory` yields.
    embedding : ndarray of shape (n_points, n_components)
        Saved as float32.
    metadata : dict of str to sequence of str, optional
        Columns of ``metadata.tsv``, each with one value per point.
    thumbnails : ndarray of shape (n_points, h, w, channels), dtype uint8, optional
        Tiled into ``sprite.png``.
    loss_history : array_like of shape (n_epochs,), optional
        Written as the TensorBoard scalar ``kl_divergence`` (step = epoch); the
        event file is written without it too.
    color_by : sequence of str of length n_points, optional
        The labels that colour ``plot.png``.
    legend_title : str, default="label"
        What the legend calls them.
    highlight : ndarray of shape (n_points,), dtype bool, optional
        Points drawn on top with a black outline (e.g. new points).
    title : str
        Title of ``plot.png``.

    Returns
    -------
    dict
        What was written: file names, ``tensor_name``, metadata columns,
        ``single_image_dim`` (for ``run.json``).
    """
    directory = Path(directory)
    embedding = np.ascontiguousarray(embedding, dtype=np.float32)
    n_points = embedding.shape[0]
    files = {"embedding": EMBEDDING_FILE}
    np.save(directory / EMBEDDING_FILE, embedding)
    files["tensor_name"] = write_checkpoint(directory, projector_tensor(embedding))
    if metadata:
        write_metadata(directory / METADATA_FILE, metadata, n_points)
        files["metadata"] = METADATA_FILE
        files["metadata_columns"] = list(metadata)
    write_bookmarks(directory / BOOKMARKS_FILE, n_points, embedding.shape[1],
                    color_column=_projector_color_column(metadata, color_by, legend_title),
                    label_column=next(iter(metadata), None) if metadata else None)
    files["bookmarks"] = BOOKMARKS_FILE
    if thumbnails is not None:
        _check_count("thumbnails", len(thumbnails), n_points)
        canvas, single_image_dim = sprite_image(thumbnails)
        _save_png(directory / SPRITE_FILE, canvas)
        files["sprite"] = SPRITE_FILE
        files["single_image_dim"] = list(single_image_dim)
    write_config(directory, files["tensor_name"], metadata_path=files.get("metadata"),
                 bookmarks_path=files["bookmarks"], sprite_path=files.get("sprite"),
                 single_image_dim=files.get("single_image_dim"))
    files["config"] = CONFIG_FILE
    # Always an event file, even without a loss: it makes the directory a run
    # that TensorBoard lists when several logs share a parent directory.
    write_loss_scalars(directory, [] if loss_history is None else loss_history)
    write_plot(directory / PLOT_FILE, embedding, color_by=color_by, legend_title=legend_title,
               highlight=highlight, title=title)
    files["plot"] = PLOT_FILE
    return files


def projector_tensor(embedding: np.ndarray) -> np.ndarray:
    """The tensor the projector gets: a map its default view draws as it is.

    The projector opens on the 3-D view of its PCA, which has no third axis
    for a 2-D map and draws nothing.  A map of one or two dimensions is
    therefore given zero columns up to three, and moved, so that the
    projector's PCA (of second moments about the origin, not of the
    covariance) keeps its axes as they are: after the move the second-moment
    matrix is largest along the first axis and diagonal but for a fixed,
    tiny mixed moment, and the signs the projector's SVD gives those axes are
    undone.  The projector then shows the map itself, up to its own centering
    and scaling of each axis (the move is a translation); maps of three or
    more dimensions are passed on unchanged (a rotation of them is shown).

    Parameters
    ----------
    embedding : ndarray of shape (n_points, n_components), float32

    Returns
    -------
    ndarray of shape (n_points, max(3, n_components)), dtype float32
    """
    n_points, n_components = embedding.shape
    if n_components >= 3:
        return embedding
    centered = embedding.astype(np.float64) - embedding.mean(axis=0, dtype=np.float64)
    second_moments = centered.T @ centered / max(n_points, 1)
    offset = PROJECTOR_OFFSET_SPREADS * math.sqrt(float(second_moments.max())) or 1.0
    tensor = np.zeros((n_points, 3), dtype=np.float64)
    tensor[:, 0] = centered[:, 0] + offset
    if n_components == 2:
        # Moving the second axis by (tilt - cov) / offset sets its mixed moment
        # with the first to `tilt`: small, but clear of rounding noise, whose
        # sign would otherwise decide the sign of the projector's second axis.
        tilt = PROJECTOR_TILT * offset ** 2
        tensor[:, 1] = centered[:, 1] + (tilt - second_moments[0, 1]) / offset
    tensor[:, :n_components] *= PROJECTOR_PCA_SIGNS[:n_components]
    return tensor.astype(np.float32)


def write_checkpoint(directory, embedding) -> str:
    """Save ``embedding`` as a TF2 checkpoint; returns the tensor's checkpoint key.

    The key (``embedding/.ATTRIBUTES/VARIABLE_VALUE`` in TF 2.x) is read back
    from the checkpoint rather than assumed: the projector needs it exactly.
    """
    import tensorflow as tf

    variable = tf.Variable(embedding, trainable=False, name="embedding")
    path = tf.train.Checkpoint(embedding=variable).save(os.path.join(directory, CHECKPOINT_PREFIX))
    keys = [name for name, shape in tf.train.list_variables(path)
            if name.startswith("embedding/") and list(shape) == list(embedding.shape)]
    if len(keys) != 1:
        raise RuntimeError(f"cannot find the embedding in checkpoint {path}: {keys}")
    return keys[0]


def write_metadata(path, columns, n_points: int) -> None:
    """Write ``metadata.tsv``: a header row only when there are >= 2 columns.

    Tabs and line breaks inside values become spaces; a row whose values are
    all blank gets a placeholder, since the projector would skip the line.

    Raises
    ------
    ValueError
        When a column does not have one value per point.
    """
    for name, values in columns.items():
        _check_count(f"metadata column {name!r}", len(values), n_points)
    cells = [[_cell(value) for value in values] for values in columns.values()]
    lines = ["\t".join(_cell(name) for name in columns)] if len(columns) >= 2 else []
    for row in zip(*cells):
        if not any(value.strip() for value in row):
            row = (BLANK_ROW_PLACEHOLDER,) + row[1:]
        lines.append("\t".join(row))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cell(value) -> str:
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _projector_color_column(metadata, color_by, legend_title) -> str | None:
    """The metadata column that colours plot.png, if the projector can colour by it.

    It can when the column holds numbers or has few distinct values.
    """
    if color_by is None or not metadata or legend_title not in metadata:
        return None
    values = set(metadata[legend_title])
    if len(values) <= MAX_PROJECTOR_COLORS or _as_numbers(list(values)) is not None:
        return legend_title
    return None


def write_bookmarks(path, n_points: int, n_components: int, *, color_column=None,
                    label_column=None) -> None:
    """Write ``bookmarks.json``: one projector state, "the map", for the Bookmarks panel.

    The state shows the projector's PCA of :func:`projector_tensor`, which is
    the map itself, in 2-D (flat, orthographic camera) for maps of one or two
    dimensions and in 3-D otherwise, coloured by ``color_column`` and labelled
    by ``label_column``.  Its per-point projections are left empty, so the
    file stays small at any size: the projector keeps the PCA it computed on
    opening.

    Parameters
    ----------
    path : str or path-like
    n_points : int
    n_components : int
        Columns of the embedding (the tensor has ``max(3, n_components)``).
    color_column, label_column : str or None
        Metadata columns to colour and label the points by (None: no colour
        map, the projector's own choice of label).
    """
    flat = n_components <= 2
    camera = ({"orthographic": True, "position": [0, 0, 4], "target": [0, 0, 0], "zoom": 1}
              if flat else
              {"orthographic": False, "position": [0.45, 0.9, 1.6], "target": [0, 0, 0],
               "zoom": 1})
    title = f"the map ({'2-D' if flat else '3-D'}"
    title += f", coloured by {color_column})" if color_column else ")"
    # Every field the projector's own "save state" writes (TensorBoard 2.21), so
    # that loading it leaves no panel half set.
    state = {
        "label": title, "isSelected": False,
        "dataSetDimensions": [n_points, max(3, n_components)],
        "selectedProjection": "pca", "pcaComponentDimensions": [0, 1] if flat else [0, 1, 2],
        "projections": [], "cameraDef": camera, "selectedPoints": [], "filteredPoints": None,
        "selectedColorOptionName": color_column or "No color map",
        "forceCategoricalColoring": False, "selectedLabelOption": label_column,
        "tSNEIteration": 0, "tSNEPerplexity": 30, "tSNELearningRate": 10, "tSNEis3d": True,
        "umapIs3d": True, "umapNeighbors": 15, "umapMinDist": 0.1,
        "customSelectedSearchByMetadataOption": label_column,
        **{f"custom{side}{field}": value for side in ("XLeft", "XRight", "YUp", "YDown")
           for field, value in (("Text", ""), ("Regex", False))},
    }
    Path(path).write_text(json.dumps([state], indent=1) + "\n", encoding="utf-8")


def write_config(directory, tensor_name, *, metadata_path=None, bookmarks_path=None,
                 sprite_path=None, single_image_dim=None) -> None:
    """Write ``projector_config.pbtxt`` with paths relative to ``directory``."""
    from tensorboard.plugins import projector

    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = tensor_name
    if metadata_path:
        embedding.metadata_path = metadata_path
    if bookmarks_path:
        embedding.bookmarks_path = bookmarks_path
    if sprite_path:
        embedding.sprite.image_path = sprite_path
        embedding.sprite.single_image_dim.extend(single_image_dim)
    projector.visualize_embeddings(str(directory), config)


def write_loss_scalars(directory, loss_history) -> None:
    """The loss per epoch as the TensorBoard scalar ``kl_divergence`` (step = epoch)."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(directory))
    with writer.as_default():
        for epoch, loss in enumerate(np.asarray(loss_history, dtype=np.float64), 1):
            tf.summary.scalar("kl_divergence", loss, step=epoch,
                              description="estimated KL(P || Q) of the epoch")
    writer.close()


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


def read_log(directory) -> dict:
    """Read back a log directory written by ``tsne-native``.

    Returns
    -------
    dict
        ``"embedding"`` (ndarray (n, m) float32), ``"metadata"`` (dict of
        str to list of str, empty without ``metadata.tsv``), ``"thumbnails"``
        (ndarray (n, h, w, c) uint8, or None without a sprite) and
        ``"summary"`` (the parsed ``run.json``).

    Raises
    ------
    ValueError
        When ``directory`` is not a complete log (no ``run.json``).
    """
    directory = Path(directory)
    if not (directory / SUMMARY_FILE).is_file():
        raise ValueError(f"{directory} is not a tsne-native log directory (no {SUMMARY_FILE})")
    summary = json.loads((directory / SUMMARY_FILE).read_text(encoding="utf-8"))
    files = summary.get("files", {})
    embedding = np.load(directory / EMBEDDING_FILE)
    metadata = {}
    if "metadata" in files:
        metadata = read_metadata(directory / files["metadata"])
        # A one-column file has no header: take the column's name from run.json.
        metadata = dict(zip(files["metadata_columns"], metadata.values()))
    thumbnails = None
    if "sprite" in files:
        thumbnails = thumbnails_from_sprite(directory / files["sprite"],
                                            files["single_image_dim"], len(embedding))
    return {"embedding": embedding, "metadata": metadata, "thumbnails": thumbnails,
            "summary": summary}


# -- replacing the target atomically ----------------------------------------

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


# -- plot.png ---------------------------------------------------------------

def write_plot(path, embedding, *, color_by=None, legend_title="label", highlight=None,
               title="") -> None:
    """A scatter plot of the embedding, coloured by label with a legend.

    Readable from a few hundred to ~100k points: the marker size shrinks with
    the number of points, points are drawn in a random (fixed) order so no
    class hides another, and the legend uses markers of a fixed size.  Up to
    20 categories get their own colour; numeric labels with more get a colour
    bar, other labels the 19 most common colours and "other".  3-D embeddings
    are drawn in a 3-D axes; only the first three columns are used.

    Parameters
    ----------
    path : str or path-like
    embedding : ndarray of shape (n_points, n_components), n_components >= 2
    color_by : sequence of str of length n_points, optional
        The labels; without them all points share one colour.
    legend_title : str, default="label"
    highlight : ndarray of shape (n_points,), dtype bool, optional
        Points drawn last, larger and outlined in black ("new points").
    title : str
    """
    from matplotlib.figure import Figure  # no pyplot: leaves the user's backend alone

    n_points, n_components = embedding.shape
    figure = Figure(figsize=(8.5, 7), dpi=110, layout="constrained")
    axes = figure.add_subplot(projection="3d" if n_components >= 3 else None)
    coords = embedding[:, :min(3, n_components)].T
    size = float(np.clip(30000.0 / max(n_points, 1), 0.8, 30.0))
    colors, handles, color_map = _colors(color_by, n_points)
    order = np.random.default_rng(0).permutation(n_points)
    highlight = np.zeros(n_points, bool) if highlight is None else np.asarray(highlight, bool)
    common = dict(rasterized=True, **color_map)
    rest, new = order[~highlight[order]], order[highlight[order]]
    points = axes.scatter(*coords[:, rest], c=colors[rest], s=size, linewidths=0,
                          alpha=1.0 if n_points < 10000 else 0.6, **common)
    if new.size:
        points = axes.scatter(*coords[:, new], c=colors[new], s=max(4 * size, 12.0),
                              edgecolors="black", linewidths=0.6, **common)
        handles.append(_legend_marker("new points", "white", edge="black"))
    if color_map:
        figure.colorbar(points, ax=axes, label=legend_title, shrink=0.8)
    if handles:
        axes.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5),
                    frameon=False, title=legend_title if color_by is not None else None)
    _style_axes(axes, n_components)
    axes.set_title(title)
    figure.savefig(path)


def _colors(color_by, n_points):
    """RGBA (or numeric) colour per point, legend handles, colour-map settings."""
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba

    if color_by is None:
        return np.tile(to_rgba("tab:blue"), (n_points, 1)), [], {}
    names, codes, counts = np.unique(np.asarray(color_by, dtype=str), return_inverse=True,
                                     return_counts=True)
    numeric = _as_numbers(names)
    if len(names) > MAX_LEGEND_ENTRIES and numeric is not None:
        values = numeric[codes]
        return values, [], {"cmap": "viridis", "vmin": values.min(), "vmax": values.max()}
    ranking = np.argsort(numeric if numeric is not None else -counts, kind="stable")
    if len(names) > MAX_LEGEND_ENTRIES:
        ranking = ranking[:MAX_LEGEND_ENTRIES - 1]
    palette = colormaps["tab10" if len(ranking) <= 10 else "tab20"]
    category_colors = np.tile(to_rgba(OTHER_COLOR), (len(names), 1))
    handles = []
    for position, category in enumerate(ranking):
        category_colors[category] = palette(position)
        handles.append(_legend_marker(_display(names[category]), category_colors[category]))
    if len(ranking) < len(names):
        handles.append(_legend_marker(f"other ({len(names) - len(ranking)})", OTHER_COLOR))
    return category_colors[codes], handles, {}


def _as_numbers(names):
    try:
        return np.array([float(name) for name in names])
    except ValueError:
        return None


def _display(name: str) -> str:
    return name if name.strip() else "(no label)"


def _legend_marker(label, color, edge="none"):
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none", marker="o", markersize=7, markerfacecolor=color,
                  markeredgecolor=edge, label=label)


def _style_axes(axes, n_components):
    # t-SNE coordinates carry no units: hide the ticks, keep the scale honest.
    if n_components >= 3:
        for axis in (axes.xaxis, axes.yaxis, axes.zaxis):
            axis.set_ticklabels([])
        return
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xticks([])
    axes.set_yticks([])


def _save_png(path, pixels: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(_squeeze_grey(pixels)).save(path)


def _check_count(what: str, count: int, n_points: int) -> None:
    if count != n_points:
        raise ValueError(f"{count} {what} for {n_points} points")
