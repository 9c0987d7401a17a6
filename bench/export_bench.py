"""The projector log's export on MNIST 70k: grey sprite against label-coloured sprite.

    python bench/export_bench.py [--repeats 2] [--compress-level L]

Writes the log of all 70,000 MNIST digits (``projector.write_log``: 28 x 28
thumbnails drawn ink on white, the digit labels as metadata, a random map)
into a temporary directory, without and with the label colours, each
``--repeats`` times in turn after TensorFlow is imported; prints the seconds
and the size of sprite.png.  ``--compress-level`` sets zlib's level for the
PNGs (``projector.sprite.PNG_COMPRESS_LEVEL``; 6 is Pillow's default).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from conftest import MNIST


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--compress-level", type=int, choices=range(10))
    args = parser.parse_args()
    from tsne_native import projector
    from tsne_native.projector import sprite

    if args.compress_level is not None:
        sprite.PNG_COMPRESS_LEVEL = args.compress_level
    from tsne_native._tensorflow import tf  # imported before the timings

    del tf
    data = np.load(MNIST)
    thumbnails = projector.make_thumbnails(data["X"], invert=True)
    labels = [str(label) for label in data["y"]]
    embedding = np.random.default_rng(0).normal(size=(len(labels), 2)).astype(np.float32)
    for _ in range(args.repeats):
        for color_by in (None, labels):
            with tempfile.TemporaryDirectory() as directory:
                started = time.perf_counter()
                projector.write_log(directory, embedding, metadata={"label": labels},
                                    thumbnails=thumbnails, color_by=color_by)
                seconds = time.perf_counter() - started
                size = os.path.getsize(Path(directory) / projector.SPRITE_FILE)
                print(f"{'coloured' if color_by else 'grey':8s} {seconds:5.1f} s, "
                      f"sprite.png {size / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
