import json
import os
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image

from projector_page import tensorboard, wait_for_runs
from tsne_native import datasets, fit, projector
from tsne_native.projector import colors as projector_colors
from tsne_native.projector import log as projector_log
from tsne_native.projector import sprite

# A tiny network and a short run: the tests check the files, not the map's quality.
TINY = ["--perplexity", "10", "--epochs", "2", "--hidden-layers", "16", "--batch-size", "64",
        "--seed", "0", "--quiet"]


# -- thumbnails and sprites -------------------------------------------------------

def test_square_side():
    assert projector.square_side(784) == 28
    assert projector.square_side(64) == 8
    assert projector.square_side(300) is None
    assert projector.square_side(0) is None


def test_thumbnails_scale_to_bytes_and_invert():
    images = np.array([[0, 8], [16, 4]], dtype=np.uint8)[np.newaxis].repeat(2, axis=0)
    thumbnails = projector.make_thumbnails(images)
    assert thumbnails.shape == (2, 2, 2, 1) and thumbnails.dtype == np.uint8
    np.testing.assert_array_equal(thumbnails[0, ..., 0], [[0, 128], [255, 64]])
    inverted = projector.make_thumbnails(images, invert=True)
    np.testing.assert_array_equal(inverted, 255 - thumbnails)


def test_thumbnails_from_square_rows_and_colour():
    rows = np.random.default_rng(0).random((3, 64))
    assert projector.make_thumbnails(rows).shape == (3, 8, 8, 1)
    colour = np.random.default_rng(0).random((3, 5, 4, 3))
    assert projector.make_thumbnails(colour).shape == (3, 5, 4, 3)


@pytest.mark.parametrize("shape", [(3, 10), (3, 4, 4, 2), (3,), (3, 0, 4)])
def test_thumbnails_reject_wrong_shapes(shape):
    with pytest.raises(ValueError, match=r"expected \(n, height, width\)"):
        projector.make_thumbnails(np.zeros(shape))


def test_thumbnails_name_the_first_bad_image():
    images = np.zeros((5, 3, 3))
    images[3, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"contain NaN or infinity \(first in image 3\)"):
        projector.make_thumbnails(images)


def test_sprite_tiles_row_major_on_a_square_canvas():
    # 5 thumbnails of 2 (high) x 3 (wide), each filled with its own index.
    thumbnails = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 3, 1), np.uint8)
    canvas, single_image_dim = projector.sprite_image(thumbnails)
    assert single_image_dim == (3, 2)  # width first, as the projector reads it
    assert canvas.shape == (3 * 2, 3 * 3, 1)
    tiles = canvas[::2, ::3, 0]  # the top-left pixel of each tile
    np.testing.assert_array_equal(tiles, [[0, 1, 2], [3, 4, 0], [0, 0, 0]])


def test_sprite_is_shrunk_to_the_projector_limit(monkeypatch):
    monkeypatch.setattr(sprite, "MAX_SPRITE_SIDE", 40)
    thumbnails = np.full((10, 16, 16, 1), 200, np.uint8)  # 4 x 4 grid of 16 px = 64 px
    canvas, single_image_dim = projector.sprite_image(thumbnails)
    assert single_image_dim == (10, 10)
    assert canvas.shape == (40, 40, 1)
    assert canvas[0, 0, 0] == 200


def test_thumbnails_come_back_out_of_a_sprite(tmp_path):
    thumbnails = np.random.default_rng(1).integers(0, 256, (7, 4, 6, 3), dtype=np.uint8)
    canvas, single_image_dim = projector.sprite_image(thumbnails)
    Image.fromarray(canvas).save(tmp_path / "s.png")
    back = projector.thumbnails_from_sprite(tmp_path / "s.png", single_image_dim, 7)
    np.testing.assert_array_equal(back, thumbnails)


def test_concatenate_thumbnails_matches_size_and_channels():
    grey = np.full((2, 8, 8, 1), 100, np.uint8)
    rgb = np.full((3, 4, 4, 3), 50, np.uint8)
    both = projector.concatenate_thumbnails(grey, rgb)
    assert both.shape == (5, 8, 8, 3)
    assert (both[:2] == 100).all() and (both[2:] == 50).all()


def test_tinted_thumbnails_are_multiplied_by_their_colour():
    grey = np.array([0, 255, 128], np.uint8).reshape(1, 1, 3, 1).repeat(2, axis=0)
    colors = np.array([[255, 0, 0], [31, 119, 180]], np.uint8)
    out = sprite.tinted(grey, colors)
    assert out.shape == (2, 1, 3, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[1, 0, :2], [[0, 0, 0], [31, 119, 180]])
    np.testing.assert_array_equal(out[1, 0, 2], [16, 60, 90])  # 128/255 of the colour, rounded
    rgba = np.full((1, 2, 2, 4), 255, np.uint8)
    rgba[..., 3] = 7
    out = sprite.tinted(rgba, colors[1:])
    assert (out[..., :3] == colors[1]).all() and (out[..., 3] == 7).all()
    assert (rgba[..., :3] == 255).all()  # the input is left alone


def test_colour_discs_are_round_and_shrink_to_the_sprite_limit(monkeypatch):
    colors = np.array([[214, 39, 40], [44, 160, 44]], np.uint8)
    discs = sprite.color_discs(colors)
    side = sprite.DISC_SIDE
    assert discs.shape == (2, side, side, 4)
    np.testing.assert_array_equal(discs[:, side // 2, side // 2], [[214, 39, 40, 255],
                                                                   [44, 160, 44, 255]])
    assert (discs[:, 0, 0] == 0).all()  # transparent corners: the projector skips them
    monkeypatch.setattr(sprite, "MAX_SPRITE_SIDE", 20)
    assert sprite.color_discs(np.zeros((30, 3), np.uint8)).shape == (30, 3, 3, 4)  # 6 x 6 grid


# -- the projector's colours --------------------------------------------------------

PALETTE = projector_colors.PROJECTOR_PALETTE


def test_projector_colours_numbers_in_ascending_order():
    # d3's category10 in steps of three: blue, red, pink, cyan, green, ...
    np.testing.assert_array_equal(PALETTE[:3], [[31, 119, 180], [214, 39, 40], [227, 119, 194]])
    colors = projector.projector_colors(["3", "1", "0", "1", "2"])
    np.testing.assert_array_equal(colors, PALETTE[[3, 1, 0, 1, 2]])


def test_projector_colours_words_in_the_order_met_after_index_keys():
    # JavaScript lists an object's array-index keys first, ascending.
    colors = projector.projector_colors(["b", "a", "10", "2", "a"])
    np.testing.assert_array_equal(colors, PALETTE[[2, 3, 1, 0, 3]])
    many = [f"w{i % 12}" for i in range(24)]  # more than ten categories: the colours cycle
    np.testing.assert_array_equal(projector.projector_colors(many)[10], PALETTE[0])


def test_projector_colours_look_numbers_up_by_value_and_blanks_are_black():
    colors = projector.projector_colors(["1.0", "1", "2", ""])
    np.testing.assert_array_equal(colors, [PALETTE[0], PALETTE[0], PALETTE[1], [0, 0, 0]])


def test_projector_colours_many_numbers_by_gradient_and_not_many_words():
    values = [str(value) for value in np.linspace(-1.0, 1.0, 101)]
    colors = projector.projector_colors(values)
    np.testing.assert_array_equal(colors[[0, -1]], projector_colors.GRADIENT_ENDS)
    assert projector.projector_colors([f"w{i}" for i in range(51)]) is None
    assert projector.projector_colors([f"w{i}" for i in range(50)]) is not None


# -- metadata, checkpoint, config, events, plot -------------------------------------

def test_metadata_header_only_with_two_or_more_columns(tmp_path):
    projector.write_metadata(tmp_path / "one.tsv", {"label": ["a", "b"]}, 2)
    assert (tmp_path / "one.tsv").read_text() == "a\nb\n"
    projector.write_metadata(tmp_path / "two.tsv", {"word": ["x", "y"], "label": [1, 2]}, 2)
    assert (tmp_path / "two.tsv").read_text() == "word\tlabel\nx\t1\ny\t2\n"


def test_metadata_values_cannot_break_rows(tmp_path):
    columns = {"text": ["tab\there", "new\nline", " ", ""], "label": ["1", "2", "", ""]}
    projector.write_metadata(tmp_path / "m.tsv", columns, 4)
    lines = (tmp_path / "m.tsv").read_text().split("\n")[:-1]
    assert len(lines) == 5  # header + one line per point
    assert lines[1:3] == ["tab here\t1", "new line\t2"]
    # The projector skips whitespace-only lines, which would shift the rows after them.
    assert all(line.strip() for line in lines)
    projector.write_metadata(tmp_path / "s.tsv", {"label": ["a", ""]}, 2)
    assert (tmp_path / "s.tsv").read_text() == f"a\n{projector_log.BLANK_ROW_PLACEHOLDER}\n"


def test_metadata_count_must_match(tmp_path):
    with pytest.raises(ValueError, match=r"3 metadata column 'label' for 4 points"):
        projector.write_metadata(tmp_path / "m.tsv", {"label": ["a", "b", "c"]}, 4)


@pytest.fixture(scope="module")
def written_log(tmp_path_factory):
    directory = tmp_path_factory.mktemp("log")
    rng = np.random.default_rng(2)
    embedding = rng.normal(size=(30, 2)).astype(np.float32)
    thumbnails = rng.integers(0, 256, (30, 6, 6, 1), dtype=np.uint8)
    files = projector.write_log(
        directory, embedding, metadata={"label": [str(i % 3) for i in range(30)]},
        thumbnails=thumbnails, loss_history=[3.0, 2.5, 2.0], color_by=[str(i % 3) for i in
                                                                      range(30)])
    projector.write_summary(directory, {"files": files})
    return directory, embedding, thumbnails, files


def test_checkpoint_key_is_the_config_tensor_name(written_log):
    import tensorflow as tf

    directory, embedding, _, files = written_log
    checkpoint = tf.train.latest_checkpoint(str(directory))
    assert checkpoint is not None
    shapes = dict(tf.train.list_variables(checkpoint))
    assert files["tensor_name"] == "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    assert shapes[files["tensor_name"]] == [30, 3]  # the 2-D map, laid out for the projector
    np.testing.assert_array_equal(tf.train.load_checkpoint(checkpoint).get_tensor(
        files["tensor_name"]), projector.projector_tensor(embedding))
    # No other 2-D tensor that the projector would list as a second embedding.
    assert [name for name, shape in shapes.items() if len(shape) == 2] == [files["tensor_name"]]


@pytest.mark.parametrize("n_components", [1, 2])
def test_projector_tensor_moves_a_flat_map_without_changing_it(n_components):
    rng = np.random.default_rng(3)
    embedding = (rng.normal(size=(500, n_components)) @ rng.normal(size=(n_components,) * 2)
                 + 40.0).astype(np.float32)
    tensor = projector.projector_tensor(embedding).astype(np.float64)
    assert tensor.shape == (500, 3) and not tensor[:, n_components:].any()
    # A translation of the map (with the projector's axis signs undone): the
    # projector's centering removes it, so the view is the map itself.
    signs = np.asarray(projector_log.PROJECTOR_PCA_SIGNS[:n_components])
    shift = tensor[:, :n_components] * signs - embedding
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-3)
    # About the origin, the first axis has the largest second moment and the
    # mixed moment is the fixed tilt, so PCA keeps the axes in order.
    moments = tensor.T @ tensor / len(tensor)
    assert moments[0, 0] > 50 * moments[1, 1] or n_components == 1
    if n_components == 2:
        tilt = moments[0, 1] * signs.prod() / moments[0, 0]
        np.testing.assert_allclose(tilt, projector_log.PROJECTOR_TILT, rtol=1e-2)


def test_projector_tensor_passes_3d_maps_unchanged():
    embedding = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    assert projector.projector_tensor(embedding) is embedding


@pytest.mark.parametrize("n_components, camera, components", [(2, True, [0, 1]),
                                                              (3, False, [0, 1, 2])])
def test_bookmark_shows_the_map_with_its_sprite_colours(tmp_path, n_components, camera,
                                                       components):
    projector.write_bookmarks(tmp_path / "b.json", 40, n_components, sprite_colors="label",
                              label_column="word")
    (state,) = json.loads((tmp_path / "b.json").read_text())
    assert state["dataSetDimensions"] == [40, 3]
    assert state["selectedProjection"] == "pca" and state["pcaComponentDimensions"] == components
    assert state["cameraDef"]["orthographic"] is camera
    # No colour map: it would multiply the sprite's colours again.
    assert state["selectedColorOptionName"] == "No color map"
    assert state["selectedLabelOption"] == "word"
    assert state["projections"] == []  # the projector keeps the PCA it computed on opening
    assert "coloured by label" in state["label"]


def test_bookmark_names_colours_only_where_the_projector_can_colour(tmp_path):
    words = [f"w{i}" for i in range(60)]  # too many distinct values for the projector
    files = projector.write_log(tmp_path, np.zeros((60, 2), np.float32),
                                metadata={"label": words}, color_by=words)
    (state,) = json.loads((tmp_path / files["bookmarks"]).read_text())
    assert state["label"] == "the map (2-D)"


def test_config_paths_are_relative_and_resolve(written_log):
    from google.protobuf import text_format
    from tensorboard.plugins import projector as tb_projector

    directory, _, _, files = written_log
    config = text_format.Parse((directory / projector.CONFIG_FILE).read_text(),
                               tb_projector.ProjectorConfig())
    (embedding,) = config.embeddings
    assert embedding.tensor_name == files["tensor_name"]
    assert not config.model_checkpoint_path  # found through the relative `checkpoint` file
    for path in (embedding.metadata_path, embedding.bookmarks_path, embedding.sprite.image_path):
        assert not os.path.isabs(path) and (directory / path).is_file()
    assert list(embedding.sprite.single_image_dim) == [6, 6]
    assert "model_checkpoint_path: \"embedding.ckpt-1\"" in (directory / "checkpoint").read_text()


def test_loss_scalars_are_tensorboard_events(written_log):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    directory = written_log[0]
    events = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    events.Reload()
    scalars = events.Tensors("kl_divergence")
    assert [event.step for event in scalars] == [1, 2, 3]
    values = [float(tensor_util.make_ndarray(event.tensor_proto)) for event in scalars]
    np.testing.assert_allclose(values, [3.0, 2.5, 2.0])


def test_read_log_gives_back_what_was_written(written_log):
    directory, embedding, thumbnails, _ = written_log
    log = projector.read_log(directory)
    np.testing.assert_array_equal(log["embedding"], embedding)
    assert log["metadata"] == {"label": [str(i % 3) for i in range(30)]}
    np.testing.assert_array_equal(log["thumbnails"], thumbnails)


def test_sprite_carries_the_label_colours(written_log):
    directory, _, thumbnails, files = written_log
    assert files["sprite_colors"] == "label" and files["thumbnails"] == projector.THUMBNAILS_FILE
    colors = projector.projector_colors([str(i % 3) for i in range(30)])
    shown = projector.thumbnails_from_sprite(directory / files["sprite"], [6, 6], 30)
    np.testing.assert_array_equal(shown, sprite.tinted(thumbnails, colors))


def test_points_without_thumbnails_get_discs_of_their_colour(tmp_path):
    labels = ["cat", "dog"] * 10
    files = projector.write_log(tmp_path, np.zeros((20, 2), np.float32),
                                metadata={"label": labels}, color_by=labels)
    assert "thumbnails" not in files and files["sprite_colors"] == "label"
    discs = projector.thumbnails_from_sprite(tmp_path / files["sprite"],
                                             files["single_image_dim"], 20)
    middle = sprite.DISC_SIDE // 2
    np.testing.assert_array_equal(discs[:2, middle, middle, :3], PALETTE[:2])
    projector.write_summary(tmp_path, {"files": files})
    assert projector.read_log(tmp_path)["thumbnails"] is None


def test_sprite_stays_as_given_when_the_labels_cannot_colour(tmp_path):
    words = [f"w{i}" for i in range(60)]
    thumbnails = np.random.default_rng(0).integers(0, 256, (60, 4, 4, 1), dtype=np.uint8)
    files = projector.write_log(tmp_path, np.zeros((60, 2), np.float32),
                                metadata={"label": words}, thumbnails=thumbnails, color_by=words)
    assert files["thumbnails"] == files["sprite"] and "sprite_colors" not in files
    assert not (tmp_path / projector.THUMBNAILS_FILE).exists()
    (tmp_path / "no_thumbnails").mkdir()
    files = projector.write_log(tmp_path / "no_thumbnails", np.zeros((60, 2), np.float32),
                                metadata={"label": words}, color_by=words)
    assert "sprite" not in files


@pytest.mark.parametrize("n_components, n_labels", [(2, 3), (3, 3), (2, 40)])
def test_plot_is_a_png(tmp_path, n_components, n_labels):
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(300, n_components))
    labels = [str(i % n_labels) for i in range(300)]
    highlight = np.arange(300) >= 280
    projector.write_plot(tmp_path / "p.png", embedding, color_by=labels, highlight=highlight,
                         title="test")
    with Image.open(tmp_path / "p.png") as image:
        assert image.format == "PNG" and min(image.size) >= 500
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    # Coloured points were drawn, not just axes: several distinct saturated colours.
    saturated = pixels[np.ptp(pixels.astype(int), axis=1) > 80]
    assert len(np.unique(saturated // 32, axis=0)) >= 3


def test_plot_without_labels(tmp_path):
    projector.write_plot(tmp_path / "p.png", np.random.default_rng(0).normal(size=(50, 2)))
    assert (tmp_path / "p.png").stat().st_size > 1000


# -- staging and replacing --------------------------------------------------------

def _entries(directory):
    return sorted(path.name for path in directory.iterdir())


def test_staged_directory_appears_only_on_success(tmp_path):
    target = tmp_path / "logs" / "run"
    with pytest.raises(RuntimeError):
        with projector.staged_directory(target) as staging:
            (staging / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert not target.exists()
    assert _entries(tmp_path / "logs") == []
    with projector.staged_directory(target) as staging:
        (staging / projector.SUMMARY_FILE).write_text("{}")
        assert not target.exists()
    assert _entries(target) == [projector.SUMMARY_FILE]
    assert _entries(tmp_path / "logs") == ["run"]


def test_existing_logs_are_replaced_only_with_overwrite(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / projector.SUMMARY_FILE).write_text("old")
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        with projector.staged_directory(target):
            pass
    assert (target / projector.SUMMARY_FILE).read_text() == "old"
    with projector.staged_directory(target, overwrite=True) as staging:
        (staging / projector.SUMMARY_FILE).write_text("new")
    assert (target / projector.SUMMARY_FILE).read_text() == "new"
    assert _entries(tmp_path) == ["run"]


def test_other_directories_are_never_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(ValueError, match="not a tsne-native log directory"):
        projector.check_target(tmp_path, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        projector.check_target(tmp_path / "file", overwrite=True)
    projector.check_target(tmp_path / "new")  # absent: fine


def test_empty_directory_is_used(tmp_path):
    (tmp_path / "run").mkdir()
    with projector.staged_directory(tmp_path / "run") as staging:
        (staging / "a").write_text("1")
    assert _entries(tmp_path / "run") == ["a"]


# -- what TensorBoard shows -------------------------------------------------------

@pytest.fixture(scope="module")
def command_logs(tmp_path_factory):
    """A trained log and a new-points log (with the training points) under one parent."""
    X, y = datasets.load_digits()
    root = tmp_path_factory.mktemp("tb")
    np.savez(root / "train.npz", X=X[:150], y=y[:150])
    np.save(root / "new.npy", X[150:190])
    np.save(root / "new_labels.npy", y[150:190])
    parent = root / "logs"
    assert fit.main([str(root / "train.npz"), "--out", str(parent / "fit"), *TINY]) == 0
    assert fit.main([str(root / "new.npy"), "--model", str(parent / "fit"), "--with-training",
                     "--labels", str(root / "new_labels.npy"), "--out", str(parent / "new"),
                     "--quiet"]) == 0
    return parent


def _get(url, **query):
    with urllib.request.urlopen(f"{url}?{urllib.parse.urlencode(query)}", timeout=30) as reply:
        return reply.read()


def _check_run_as_the_browser_would(base, run, log_dir):
    base = f"{base}/data/plugin/projector"
    info = json.loads(_get(f"{base}/info", run=run))
    (embedding_info,) = info["embeddings"]
    name = embedding_info["tensorName"]
    expected = projector.projector_tensor(np.load(log_dir / projector.EMBEDDING_FILE))
    assert [int(v) for v in embedding_info["tensorShape"]] == list(expected.shape)

    tensor = np.frombuffer(_get(f"{base}/tensor", run=run, name=name), dtype="<f4")
    np.testing.assert_array_equal(tensor.reshape(expected.shape), expected)
    bookmarks = json.loads(_get(f"{base}/bookmarks", run=run, name=name))
    assert [state["dataSetDimensions"] for state in bookmarks] == [list(expected.shape)]

    # The server does not count metadata rows; the browser refuses a mismatch.
    lines = _get(f"{base}/metadata", run=run, name=name).decode().splitlines()
    lines = [line for line in lines if line.strip()]
    header = 1 if "\t" in lines[0] else 0
    assert len(lines) - header == len(expected)

    sprite = _get(f"{base}/sprite_image", run=run, name=name)
    assert sprite.startswith(b"\x89PNG")
    width, height = (int(v) for v in embedding_info["sprite"]["singleImageDim"])
    with Image.open(log_dir / projector.SPRITE_FILE) as image:
        grid = (image.size[0] // width) * (image.size[1] // height)
        assert image.size[0] == image.size[1] <= projector.MAX_SPRITE_SIDE
    assert grid >= len(expected)
    return lines, header


def test_tensorboard_shows_the_log(command_logs, tmp_path):
    """The printed command, `tensorboard --logdir LOGDIR`, on one log: run '.'."""
    with tensorboard(command_logs / "fit", tmp_path / "tb.log") as base:
        wait_for_runs(base, ["."], tmp_path / "tb.log")
        lines, header = _check_run_as_the_browser_would(base, ".", command_logs / "fit")
    assert header == 0 and lines[:3] == ["0", "1", "2"]  # the digits' labels


def test_tensorboard_lists_several_logs_under_one_parent(command_logs, tmp_path):
    with tensorboard(command_logs, tmp_path / "tb.log") as base:
        wait_for_runs(base, ["fit", "new"], tmp_path / "tb.log")
        lines, header = _check_run_as_the_browser_would(base, "new", command_logs / "new")
    assert lines[0].split("\t") == ["label", "set"]
    assert [line.split("\t")[1] for line in lines[header:]] == ["training"] * 150 + ["new"] * 40


# -- reading metadata.tsv -----------------------------------------------------

def test_single_column_metadata_has_no_header(tmp_path):
    (tmp_path / "titles.tsv").write_text("first\nsecond\n\n")
    assert projector.read_metadata(tmp_path / "titles.tsv") == {"titles": ["first", "second"]}


def test_table_metadata_has_a_header_and_pads_short_rows(tmp_path):
    (tmp_path / "m.tsv").write_text("word\tcount\nthe\t10\nof\n")
    columns = projector.read_metadata(tmp_path / "m.tsv")
    assert columns == {"word": ["the", "of"], "count": ["10", ""]}


def test_metadata_row_with_extra_fields(tmp_path):
    (tmp_path / "m.tsv").write_text("a\tb\n1\t2\t3\n")
    with pytest.raises(ValueError, match=r"m.tsv, row 2: 3 fields, but the header names 2"):
        projector.read_metadata(tmp_path / "m.tsv")
