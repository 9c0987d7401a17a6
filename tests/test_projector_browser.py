"""The Projector tab in a real browser: what a user sees on opening a log.

Each case writes a log with the command, starts the real TensorBoard and
opens ``#projector`` in headless Chromium (tests/projector_page.py).  The
browser is required: when it cannot start, the tests fail and say what to
install.  On a failure the window is saved as ``projector.png`` in the test's
temporary directory, whose path the failure message gives.
"""

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from projector_page import (
    BrowserUnavailable,
    ProjectorPage,
    color_pixel_counts,
    drawn_fraction,
    tensorboard,
    wait_for_runs,
)
from tsne_native import fit, projector
from tsne_native.projector import sprite

# The bundled digits (sprites and labels) with a tiny network: the tests check
# what the page draws, not the map's quality.
DEMO_POINTS = 1797
TINY = ["--demo", "--perplexity", "10", "--epochs", "2", "--hidden-layers", "16",
        "--batch-size", "64", "--seed", "0", "--quiet"]
# Of the scatter plot's pixels, the share that must be drawn (not background):
# 1,797 thumbnails cover about a sixth; the three axes alone, under 1 percent.
MIN_DRAWN_FRACTION = 0.03
# Pixels of each label's colour that must show: 61-385 per digit in the demo
# as it opens, none for eight of the ten digits when the sprite held grey
# thumbnails (bench/RESULTS.md).
MIN_LABEL_PIXELS = 20


def write_demo_log(out: Path, *options) -> Path:
    assert fit.main([*TINY, "--out", str(out), *options]) == 0
    return out


@contextmanager
def projector_page(log_dir: Path, tmp_path: Path):
    """The Projector tab over ``log_dir``; the window is kept as a PNG when a check fails."""
    server_log = tmp_path / "tensorboard.log"
    with tensorboard(log_dir, server_log) as base:
        wait_for_runs(base, ["."], server_log)
        try:
            page = ProjectorPage(base)
        except BrowserUnavailable as err:
            pytest.fail(f"the browser test needs a browser: {err}")
        try:
            yield page
        except AssertionError as err:
            page.screenshot(tmp_path / "projector.png")
            raise AssertionError(f"{err}\n(the page: {tmp_path / 'projector.png'})") from err
        finally:
            page.close()


def label_counts(log_dir: Path) -> list:
    labels = (log_dir / projector.METADATA_FILE).read_text().splitlines()
    names, counts = np.unique(labels, return_counts=True)
    return [[str(name), str(count)] for name, count in zip(names, counts)]


def check_drawn(page, state):
    assert state["error"] is None and state["toast"] is None, state
    fraction = drawn_fraction(page.canvas_pixels())
    assert fraction >= MIN_DRAWN_FRACTION, f"only {fraction:.4f} of the canvas is drawn"


def check_label_colours(page, log_dir: Path):
    """Every label's colour (the projector's own for it) is on the canvas."""
    labels = (log_dir / projector.METADATA_FILE).read_text().splitlines()
    names = np.unique(labels)
    palette = projector.projector_colors(names)
    counts = color_pixel_counts(page.canvas_pixels(), palette)
    shown = dict(zip(names.tolist(), counts))
    assert min(counts) >= MIN_LABEL_PIXELS, f"pixels of each label's colour: {shown}"


@pytest.mark.parametrize("dims, options, image_side", [(2, [], 8), (3, [], 8),
                                                       (2, ["--no-sprite"], sprite.DISC_SIDE)])
def test_the_map_shows_coloured_on_opening(tmp_path, dims, options, image_side):
    log_dir = write_demo_log(tmp_path / "log", "--dims", str(dims), *options)
    embedding = np.load(log_dir / projector.EMBEDDING_FILE)
    with projector_page(log_dir, tmp_path) as page:
        # No click: the projector's default view (PCA, 3-D, no colour map)
        # draws every point's image from the sprite, in its label's colour.
        state = page.wait(lambda s: s["sprite_dimensions"] or s["toast"] or s["error"],
                          what="the sprite drawn")
        assert state["color_by"] == "No color map"
        check_drawn(page, state)
        assert state["points_text"] == str(DEMO_POINTS) == str(state["n_points"])
        assert state["sprite_dimensions"] == [image_side, image_side]
        check_label_colours(page, log_dir)
        assert_shows_the_map(page.projected(), embedding)

        # One click on the bookmark: flat for a 2-D map, the same colours.
        assert state["bookmarks"] == [f"the map ({dims}-D, coloured by label)"]
        page.load_bookmark(0)
        state = page.wait(lambda s: s["selected_bookmark"] == 0 and
                          s["projection_dimensions"] == dims, what="the bookmarked view")
        check_drawn(page, state)
        check_label_colours(page, log_dir)
        assert_shows_the_map(page.projected(), embedding)

        # Colour by label, as a user picks it: the legend lists every label with its count.
        page.color_by("label")
        state = page.wait(lambda s: s["legend"], what="the colour legend")
        assert state["legend"] == label_counts(log_dir)
        check_drawn(page, state)


def assert_shows_the_map(shown, embedding):
    """A 2-D map is shown as it is (each axis shifted and scaled); a 3-D one turned."""
    assert np.isfinite(shown).all()
    if embedding.shape[1] == 2:
        for axis in range(2):
            assert np.corrcoef(shown[:, axis], embedding[:, axis])[0, 1] > 0.9999
        return
    # A rotation (or reflection) of the centred map: the same distances between points.
    centred = [values - values.mean(axis=0) for values in (shown[:, :3], embedding)]
    np.testing.assert_allclose(np.linalg.norm(centred[0], axis=1),
                               np.linalg.norm(centred[1], axis=1), rtol=1e-3, atol=1e-3)


def test_metadata_one_row_short_shows_the_error(tmp_path):
    log_dir = write_demo_log(tmp_path / "log")
    metadata = log_dir / projector.METADATA_FILE
    metadata.write_text("".join(metadata.read_text().splitlines(keepends=True)[:-1]))
    with projector_page(log_dir, tmp_path) as page:
        state = page.wait(lambda s: s["toast"] or s["error"], what="an error notification")
        message = state["toast"] or state["error"]
        assert (f"Number of tensors ({DEMO_POINTS}) do not match the number of lines in "
                f"metadata ({DEMO_POINTS - 1})") in message
