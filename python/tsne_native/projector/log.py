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
- ``sprite.png``: an image per point, tiled row-major on a square canvas of
  at most 8192 x 8192 pixels (the projector's limit): the thumbnails,
  multiplied by the colour the projector gives the point's label when the
  labels can colour the map, or a disc of that colour when there are no
  thumbnails (:mod:`.colors`: the projector opens with no colour map);
- ``thumbnails.png``: the thumbnails as given, tiled the same way, when the
  sprite holds them coloured (:func:`read_log` reads them back);
- ``embedding.npy`` (the map itself), ``plot.png`` (a scatter plot coloured by label) and the
  loss per epoch as TensorBoard scalars (``events.out.tfevents.*``; an event
  file also makes the directory a run when several share a parent log
  directory);
- ``run.json``: what made the map (written last; it marks a complete log:
  :mod:`.staging`, which also builds the log beside the target and renames
  it into place at the end).

This module writes and reads every file of that format; :mod:`.sprite` makes
the thumbnails and :mod:`.plot` the picture.  TensorFlow and matplotlib are
imported only by the functions that write with them, so reading and checking
inputs stays quick.

What the Projector tab draws on opening is fixed by TensorBoard, not by the
log: the PCA tab in 3-D, "Color by: No color map", bookmarks listed but not
loaded.  A 2-column tensor draws nothing there (its third component is NaN),
so the checkpoint holds the map laid out by :func:`projector_tensor`, which
that default view draws as the map itself; the sprite carries the label
colours, which that view draws unchanged.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .._validation import check_count, read_text
from .colors import projector_colors
from .plot import write_plot
from .sprite import (
                     color_discs,
                     fit_sprite,
                     save_png,
                     thumbnails_from_sprite,
                     tile_sprite,
                     tinted,
)
from .staging import SUMMARY_FILE

BOOKMARKS_FILE = "bookmarks.json"
CHECKPOINT_PREFIX = "embedding.ckpt"
CONFIG_FILE = "projector_config.pbtxt"
EMBEDDING_FILE = "embedding.npy"
METADATA_FILE = "metadata.tsv"
MODEL_DIR = "model"
PLOT_FILE = "plot.png"
SPRITE_FILE = "sprite.png"
THUMBNAILS_FILE = "thumbnails.png"
# The projector skips blank metadata lines, which would shift every later row.
BLANK_ROW_PLACEHOLDER = "(blank)"
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


def write_log(directory, embedding, *, metadata=None, thumbnails=None, loss_history=None,
              loss_steps=None, color_by=None, legend_title="label", highlight=None, title=""):
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
    loss_history : array_like of shape (n_losses,), optional
        Written as the TensorBoard scalar ``kl_divergence``; the event file is
        written without it too.
    loss_steps : array_like of int of shape (n_losses,), optional
        The step of each loss (iterations); default the epochs 1, 2, ...
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
        ``single_image_dim``, ``sprite_colors`` (the column that colours the
        sprite), for ``run.json``.
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
    color_column, colors = _projector_coloring(metadata, color_by, legend_title)
    write_bookmarks(directory / BOOKMARKS_FILE, n_points, embedding.shape[1],
                    sprite_colors=color_column,
                    label_column=next(iter(metadata), None) if metadata else None)
    files["bookmarks"] = BOOKMARKS_FILE
    if thumbnails is not None:
        check_count(len(thumbnails), n_points, "thumbnails")
    files.update(write_sprites(directory, thumbnails, colors))
    if colors is not None:
        files["sprite_colors"] = color_column
    write_config(directory, files["tensor_name"], metadata_path=files.get("metadata"),
                 bookmarks_path=files["bookmarks"], sprite_path=files.get("sprite"),
                 single_image_dim=files.get("single_image_dim"))
    files["config"] = CONFIG_FILE
    # Always an event file, even without a loss: it makes the directory a run
    # that TensorBoard lists when several logs share a parent directory.
    write_loss_scalars(directory, [] if loss_history is None else loss_history, loss_steps)
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
    from .._tensorflow import tf

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
        check_count(len(values), n_points, f"metadata column {name!r}")
    cells = [[_cell(value) for value in values] for values in columns.values()]
    lines = ["\t".join(_cell(name) for name in columns)] if len(columns) >= 2 else []
    for row in zip(*cells):
        if not any(value.strip() for value in row):
            row = (BLANK_ROW_PLACEHOLDER,) + row[1:]
        lines.append("\t".join(row))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cell(value) -> str:
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _projector_coloring(metadata, color_by, legend_title):
    """``(column, colours)``: the metadata column that colours plot.png and the
    projector's colour per point, or ``(None, None)`` when the projector cannot
    colour by it (:func:`.colors.projector_colors`).
    """
    if color_by is None or not metadata or legend_title not in metadata:
        return None, None
    colors = projector_colors(metadata[legend_title])
    return (None, None) if colors is None else (legend_title, colors)


def write_sprites(directory, thumbnails, colors) -> dict:
    """Write ``sprite.png`` (and ``thumbnails.png``): the image the projector draws per point.

    Parameters
    ----------
    directory : path-like
    thumbnails : ndarray of shape (n_points, h, w, channels), dtype uint8, or None
    colors : ndarray of shape (n_points, 3), dtype uint8, or None
        The projector's colour for each point's label.

    Returns
    -------
    dict
        ``sprite`` and ``single_image_dim`` when a sprite was written, and
        ``thumbnails``: the file holding the thumbnails as given.
    """
    files = {}
    if thumbnails is None and colors is None:
        return files
    if thumbnails is not None:
        thumbnails = fit_sprite(thumbnails)
        files["thumbnails"] = SPRITE_FILE if colors is None else THUMBNAILS_FILE
        canvas, single_image_dim = tile_sprite(thumbnails)
        save_png(directory / files["thumbnails"], canvas)
    if colors is not None:
        images = color_discs(colors) if thumbnails is None else tinted(thumbnails, colors)
        canvas, single_image_dim = tile_sprite(images)
        save_png(directory / SPRITE_FILE, canvas)
    files["sprite"] = SPRITE_FILE
    files["single_image_dim"] = list(single_image_dim)
    return files


def write_bookmarks(path, n_points: int, n_components: int, *, sprite_colors=None,
                    label_column=None) -> None:
    """Write ``bookmarks.json``: one projector state, "the map", for the Bookmarks panel.

    The state shows the projector's PCA of :func:`projector_tensor`, which is
    the map itself, in 2-D (flat, orthographic camera) for maps of one or two
    dimensions and in 3-D otherwise, labelled by ``label_column``.  It selects
    no colour map: the sprite carries the colours (:func:`write_sprites`),
    and a colour map would multiply them again.  Its per-point projections
    are left empty, so the file stays small at any size: the projector keeps
    the PCA it computed on opening.

    Parameters
    ----------
    path : str or path-like
    n_points : int
    n_components : int
        Columns of the embedding (the tensor has ``max(3, n_components)``).
    sprite_colors : str or None
        The metadata column whose colours the sprite carries (for the title).
    label_column : str or None
        Metadata column to label the points by (None: the projector's choice).
    """
    flat = n_components <= 2
    camera = ({"orthographic": True, "position": [0, 0, 4], "target": [0, 0, 0], "zoom": 1}
              if flat else
              {"orthographic": False, "position": [0.45, 0.9, 1.6], "target": [0, 0, 0],
               "zoom": 1})
    title = f"the map ({'2-D' if flat else '3-D'}"
    title += f", coloured by {sprite_colors})" if sprite_colors else ")"
    # Every field the projector's own "save state" writes (TensorBoard 2.21), so
    # that loading it leaves no panel half set.
    state = {
        "label": title, "isSelected": False,
        "dataSetDimensions": [n_points, max(3, n_components)],
        "selectedProjection": "pca", "pcaComponentDimensions": [0, 1] if flat else [0, 1, 2],
        "projections": [], "cameraDef": camera, "selectedPoints": [], "filteredPoints": None,
        "selectedColorOptionName": "No color map",
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


def write_loss_scalars(directory, loss_history, steps=None) -> None:
    """The loss as the TensorBoard scalar ``kl_divergence``.

    ``steps`` (ints, one per loss) are the iterations the losses were measured
    at; without them the step is the epoch, 1, 2, ...
    """
    from .._tensorflow import tf

    losses = np.asarray(loss_history, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1) if steps is None else np.asarray(steps, dtype=np.int64)
    writer = tf.summary.create_file_writer(str(directory))
    with writer.as_default():
        for step, loss in zip(steps.tolist(), losses):
            tf.summary.scalar("kl_divergence", loss, step=step,
                              description="KL(P || Q) of the map at this step")
    writer.close()


def read_metadata(path) -> dict[str, list[str]]:
    """Read a TensorBoard-style metadata table, one row per point.

    As in TensorBoard's projector: a file whose first line has a tab is a
    table with a header row; otherwise it is one column without a header
    (named after the file).  Blank lines are skipped, as the projector does.

    Parameters
    ----------
    path : str or path-like
        A ``.tsv`` (or ``.txt``) file.

    Returns
    -------
    dict of str to list of str
        Column name to values, in file order; every column has one value per
        row (short rows are padded with empty strings).

    Raises
    ------
    ValueError
        For a row with more fields than the header names.
    """
    path = Path(path)
    lines = [line for line in read_text(path).splitlines() if line.strip()]
    if not lines or "\t" not in lines[0]:
        return {path.stem: lines}
    names = lines[0].split("\t")
    columns = {name: [] for name in names}
    if len(columns) != len(names):
        raise ValueError(f"{path}: the header repeats a column name: {lines[0]!r}")
    for number, line in enumerate(lines[1:], 2):
        fields = line.split("\t")
        if len(fields) > len(names):
            raise ValueError(f"{path}, row {number}: {len(fields)} fields, but the header "
                             f"names {len(names)} columns")
        fields += [""] * (len(names) - len(fields))
        for values, field in zip(columns.values(), fields):
            values.append(field)
    return columns


def read_log(directory) -> dict:
    """Read back a log directory written by ``tsne-native``.

    Returns
    -------
    dict
        ``"embedding"`` (ndarray (n, m) float32), ``"metadata"`` (dict of
        str to list of str, empty without ``metadata.tsv``), ``"thumbnails"``
        (ndarray (n, h, w, c) uint8, or None without thumbnails) and
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
    if "thumbnails" in files:
        thumbnails = thumbnails_from_sprite(directory / files["thumbnails"],
                                            files["single_image_dim"], len(embedding))
    return {"embedding": embedding, "metadata": metadata, "thumbnails": thumbnails,
            "summary": summary}
