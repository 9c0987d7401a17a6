"""The README's pictures: the demo in TensorBoard's Projector tab, and its plot.png.

    python bench/projector_screenshot.py [--seed 0] [--out-dir bench]

Runs the README's demo command (``python -m tsne_native.fit --demo``), starts
the real TensorBoard over the log and opens the Projector tab in headless
Chromium through the browser test's own driver (tests/projector_page.py).
Writes ``projector_opening.png`` (the window as it opens, no click: every
thumbnail in its label's colour) and ``demo_plot.png`` (the log's plot.png).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from projector_page import ProjectorPage, tensorboard, wait_for_runs

# Let the first view settle (sprites loaded, the 3-D view's slow turn just begun).
SETTLE_SECONDS = 2.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        log_dir = Path(scratch) / "demo"
        subprocess.run([sys.executable, "-m", "tsne_native.fit", "--demo", "--out", str(log_dir),
                        "--seed", str(args.seed), "--quiet"], check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        shutil.copyfile(log_dir / "plot.png", args.out_dir / "demo_plot.png")
        server_log = Path(scratch) / "tensorboard.log"
        with tensorboard(log_dir, server_log) as base:
            wait_for_runs(base, ["."], server_log)
            with ProjectorPage(base) as page:
                page.wait(lambda state: state["sprite_dimensions"], what="the sprite drawn")
                time.sleep(SETTLE_SECONDS)
                page.screenshot(args.out_dir / "projector_opening.png")
    for name in ("projector_opening.png", "demo_plot.png"):
        print(args.out_dir / name)


if __name__ == "__main__":
    main()
