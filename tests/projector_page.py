"""TensorBoard and its Projector tab, driven the way a user meets them.

``tensorboard`` starts the real server on 127.0.0.1 (a free port) over a log
directory; :class:`ProjectorPage` opens ``#projector`` in headless Chromium
(Debian's ``chromium`` and ``chromium-driver``, software WebGL) through
Selenium and reads what the page shows: the status bar, the colour legend,
error notifications, the scatter canvas's pixels, the bookmarks.  The
projector lives inside shadow roots, so the page is read by script, starting
from its ``vz-projector`` element.  Used by the browser tests and by
``bench/projector_screenshot.py`` (the README's picture).
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# Software WebGL: without these flags headless Chromium says "WebGL not enabled".
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                  "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                  "--window-size=1400,1000")
INSTALL_HINT = "apt-get install chromium chromium-driver (as root), pip install selenium"

# find(root, selector, intoFrames): the first match under ``root``, through
# shadow roots and, with intoFrames, same-origin iframes.
_FIND = """
function find(root, selector, intoFrames) {
  const hit = root.querySelector(selector);
  if (hit) return hit;
  for (const element of root.querySelectorAll('*')) {
    const inner = element.shadowRoot ||
        (intoFrames && element.tagName === 'IFRAME' ? element.contentDocument : null);
    const found = inner ? find(inner, selector, intoFrames) : null;
    if (found) return found;
  }
  return null;
}
"""

# Every script below starts with this and reads ``projector``.
_FIND_PROJECTOR = _FIND + "const projector = find(document, 'vz-projector', true);\n"

# "top" when this document (shadow roots included) holds the projector without
# an iframe in between, else the outermost iframe that holds it, else null.
_FIND_PROJECTOR_FRAME = _FIND + """
if (find(document, 'vz-projector', false)) return 'top';
function frameOf(root) {
  for (const element of root.querySelectorAll('*')) {
    if (element.tagName === 'IFRAME' && element.contentDocument &&
        find(element.contentDocument, 'vz-projector', true)) return element;
    const found = element.shadowRoot ? frameOf(element.shadowRoot) : null;
    if (found) return found;
  }
  return null;
}
return frameOf(document);
"""

_READ_STATE = _FIND_PROJECTOR + """
if (!projector) return null;
const root = projector.shadowRoot;
const toast = root.querySelector('#toast');
const dialog = root.querySelector('#notification-dialog');
const title = dialog ? dialog.querySelector('#notification-title').textContent : '';
const legend = root.querySelector('vz-projector-data-panel').shadowRoot
    .querySelector('vz-projector-legend');
const items = legend ? [...legend.shadowRoot.querySelectorAll('.item')] : [];
const data = projector.dataSet;
const projection = projector.projection;
const sprites = projector.projectorScatterPlotAdapter &&
    projector.projectorScatterPlotAdapter.spriteVisualizer;
const bookmarks = root.querySelector('vz-projector-bookmark-panel');
return {
  points_text: (root.querySelector('.numDataPoints') || {}).textContent || null,
  dimension_text: (root.querySelector('.dim') || {}).textContent || null,
  n_points: data ? data.points.length : null,
  tensor_shape: data ? data.dim : null,
  projection: projection ? projection.projectionType : null,
  projection_dimensions: projection ? projection.dimensionality : null,
  projection_components: projection ? projection.projectionComponents : null,
  color_by: projector.dataPanel ? projector.dataPanel.selectedColorOptionName : null,
  legend: items.map(item => [item.querySelector('.label').textContent.trim(),
                             item.querySelector('.info').textContent.trim()]),
  toast: toast && toast.opened ? toast.text : null,
  error: dialog && dialog.opened && title.startsWith('Error') ?
      title + ': ' + dialog.querySelector('#notify-msgs').textContent.trim() : null,
  sprite_dimensions: sprites && sprites.texture ? sprites.spriteDimensions : null,
  bookmarks: bookmarks ? bookmarks.savedStates.map(state => state.label) : [],
  selected_bookmark: bookmarks ? bookmarks.savedStates.findIndex(state => state.isSelected) : -1,
};
"""

_PROJECTED = _FIND_PROJECTOR + """
const components = projector.projection.projectionComponents.filter(c => c != null);
return projector.dataSet.points.map(
    point => components.map(c => point.projections[c]));
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def tensorboard(logdir, log_file):
    """Run ``tensorboard --logdir LOGDIR`` on 127.0.0.1; yields its base URL."""
    port = free_port()
    with open(log_file, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
             "--host", "127.0.0.1", "--port", str(port), "--load_fast=false"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_for_runs(base, expected, server_log, timeout=120):
    """Poll the projector's ``/runs`` until it lists ``expected``; returns the runs.

    Raises
    ------
    AssertionError
        When the runs do not appear within ``timeout`` seconds (with the server's log).
    """
    deadline = time.monotonic() + timeout
    runs = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/data/plugin/projector/runs", timeout=30) as reply:
                runs = json.loads(reply.read())
            if set(expected) <= set(runs):
                return runs
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet
        time.sleep(0.5)
    raise AssertionError(f"TensorBoard listed {runs} instead of {expected}:\n"
                         f"{Path(server_log).read_text()}")


class BrowserUnavailable(RuntimeError):
    """Chromium, its driver or Selenium is missing or does not start."""


class ProjectorPage:
    """The Projector tab of a running TensorBoard in headless Chromium.

    Parameters
    ----------
    base : str
        TensorBoard's URL, e.g. ``http://127.0.0.1:6006``.

    Raises
    ------
    BrowserUnavailable
        When the browser cannot be started (the message says what to install).
    """

    def __init__(self, base: str):
        self._profile = tempfile.mkdtemp(prefix="projector-page-")
        self.driver = _start_chromium(self._profile)
        self.driver.get(f"{base}/#projector")
        self._enter_projector_frame()

    def _enter_projector_frame(self, timeout=60.0) -> None:
        """Run every later script in the iframe that holds the projector.

        Elements handed back to Selenium (for a click or a screenshot) must
        come from the frame the driver is in.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.driver.execute_script(_FIND_PROJECTOR_FRAME)
            if frame == "top":
                return
            if frame is not None:
                self.driver.switch_to.frame(frame)  # then look again, for nested frames
            else:
                time.sleep(0.25)
        raise AssertionError(f"no projector element appeared within {timeout:.0f} s")

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def state(self) -> dict | None:
        """What the page shows now (None before the projector element exists).

        Keys: ``points_text``, ``dimension_text`` (the status bar),
        ``n_points``, ``tensor_shape``, ``projection`` and
        ``projection_dimensions`` (the view), ``color_by``, ``legend``
        (``[label, count]`` rows), ``toast`` and ``error`` (notifications
        shown, else None), ``sprite_dimensions`` (``[w, h]`` when thumbnails
        are drawn), ``bookmarks`` (their titles), ``selected_bookmark`` (the
        index of the one loaded, else -1).
        """
        return self.driver.execute_script(_READ_STATE)

    def wait(self, condition, timeout=90.0, what="the projector") -> dict:
        """Poll :meth:`state` until ``condition(state)`` holds; returns that state.

        Raises
        ------
        AssertionError
            After ``timeout`` seconds, with the last state seen.
        """
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.state()
            if state is not None and condition(state):
                return state
            time.sleep(0.25)
        raise AssertionError(f"{what} did not appear within {timeout:.0f} s; the page "
                             f"showed {state}")

    def wait_for_map(self, timeout=90.0) -> dict:
        """Wait until a projection of the loaded tensor is drawn (or an error shows)."""
        return self.wait(lambda s: (s["projection"] is not None and s["n_points"])
                         or s["toast"] or s["error"], timeout, "a drawn projection")

    def projected(self) -> np.ndarray:
        """The coordinates the view shows, shape (n_points, its dimensions), float64."""
        return np.asarray(self.driver.execute_script(_PROJECTED), dtype=np.float64)

    def canvas_pixels(self) -> np.ndarray:
        """A screenshot of the scatter plot, shape (h, w, 3), dtype uint8."""
        from PIL import Image

        canvas = self.driver.execute_script(
            _FIND_PROJECTOR + "return projector.shadowRoot.querySelector('#scatter');")
        with Image.open(io.BytesIO(canvas.screenshot_as_png)) as image:
            return np.asarray(image.convert("RGB"))

    def load_bookmark(self, index: int = 0) -> None:
        """Click the radio button of bookmark ``index``, as a user would."""
        radio = self.driver.execute_script(
            _FIND_PROJECTOR + "return projector.shadowRoot.querySelector("
            "'vz-projector-bookmark-panel').shadowRoot.querySelectorAll('.state-radio')"
            f"[{int(index)}];")
        if radio is None:
            raise AssertionError(f"the Bookmarks panel has no bookmark {index}")
        radio.click()

    def color_by(self, option: str) -> None:
        """Choose ``option`` in the data panel's "Color by" menu."""
        self.driver.execute_script(
            _FIND_PROJECTOR + "projector.dataPanel.selectedColorOptionName = arguments[0];",
            option)

    def screenshot(self, path) -> None:
        """Save the whole window as a PNG."""
        self.driver.save_screenshot(str(path))


def drawn_fraction(pixels: np.ndarray) -> float:
    """Share of pixels that differ clearly from the (white) background."""
    return float(np.mean(np.abs(pixels.astype(np.int16) - 255).max(axis=2) > 48))


def color_pixel_counts(pixels: np.ndarray, colors, tolerance: int = 12) -> list[int]:
    """For each RGB colour, how many pixels show it (every channel within ``tolerance``)."""
    pixels = pixels.astype(np.int16)
    return [int((np.abs(pixels - np.asarray(color, np.int16)).max(axis=2) <= tolerance).sum())
            for color in colors]


def _start_chromium(profile: str):
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as err:
        raise BrowserUnavailable(f"Selenium is not installed ({err}); {INSTALL_HINT}") from None
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        raise BrowserUnavailable(f"no chromium or chromedriver on PATH; {INSTALL_HINT}")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    try:
        return webdriver.Chrome(service=Service(executable_path=driver), options=options)
    except WebDriverException as err:
        raise BrowserUnavailable(f"headless Chromium did not start: {err.msg}") from None
