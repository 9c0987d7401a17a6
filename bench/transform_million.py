"""Out-of-core transform (issue 18): new rows read from a memory-mapped .npy, chunk by chunk.

    python bench/transform_million.py                 # fit, then embed 100,000 and 1,000,000
    python bench/transform_million.py --rows 1000000  # only embed (the model must exist)

The rows are the generated million distorted MNIST digits of bench/distorted_mnist.py
(1,000,000 x 50 float32, cached as a .npy).  Without --rows, a ParametricTSNE with the
default network is fitted on the first 20,000 rows (10 epochs: only the speed of the map
is measured here, not its quality), saved under the cache directory, and each size is
embedded in a fresh process.  That process loads the model, maps the .npy and embeds
CHUNK_ROWS rows at a time: each chunk is copied out of a fresh memory map, which is
closed again, so the pages read leave the process and its memory does not grow with the
rows.  It prints the points embedded per second (the transform alone, reading included)
and the peak RSS (VmHWM) of the process.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import distorted_mnist
from conftest import THREADS
from peak_rss import memory_status_mb

N, SEED = 1_000_000, 0
FIT_ROWS, FIT_EPOCHS = 20_000, 10
CHUNK_ROWS = 65_536
SIZES = (100_000, 1_000_000)


def model_path():
    """Where the fitted model is saved (beside the cached data)."""
    return distorted_mnist.cache_paths(N, SEED)[0].parent / "transform_million_model"


def fit_model():
    """Fit and save a default-network ParametricTSNE on the first FIT_ROWS rows."""
    import tsne_native

    X = np.load(distorted_mnist.cache_paths(N, SEED)[0], mmap_mode="r")
    model = tsne_native.ParametricTSNE(n_epochs=FIT_EPOCHS, n_jobs=THREADS, random_state=SEED)
    model.fit(np.array(X[:FIT_ROWS]))
    model.save(model_path(), overwrite=True)


def embed_rows(rows):
    """Embed the first ``rows`` rows chunk by chunk; print throughput and peak RSS."""
    import tsne_native

    model = tsne_native.load(model_path())
    path = distorted_mnist.cache_paths(N, SEED)[0]
    model.transform(np.zeros((1, model.n_features_in_), dtype=np.float32))  # compile once
    before = memory_status_mb("VmHWM")
    embedding = np.empty((rows, model.n_components), dtype=np.float32)
    started = time.perf_counter()
    for start in range(0, rows, CHUNK_ROWS):
        stop = min(rows, start + CHUNK_ROWS)
        mapped = np.load(path, mmap_mode="r")
        chunk = np.array(mapped[start:stop])
        del mapped  # unmapped: the pages read leave this process
        embedding[start:stop] = model.transform(chunk)
    seconds = time.perf_counter() - started
    assert np.isfinite(embedding).all()
    print(f"{rows:,} rows in chunks of {CHUNK_ROWS:,}: {seconds:.1f} s, "
          f"{rows / seconds:,.0f} points/s; peak RSS {memory_status_mb('VmHWM'):.0f} MB "
          f"({before:.0f} MB before the first chunk)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="only embed this many rows (fresh process)")
    args = parser.parse_args()
    if args.rows is not None:
        embed_rows(args.rows)
        return 0
    distorted_mnist.load(N, SEED)  # generated and cached on first use
    fit_model()
    for rows in SIZES:
        subprocess.run([sys.executable, __file__, "--rows", str(rows)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
