"""MNIST quality and speed of one embedding system, in a fresh process.

    python bench/parametric_quality.py {tsne_native,opentsne,parametric_umap} [--n-train N]
                                       [--umap-epochs N] [--params JSON]

Fits on the 60,000-row training split of ../shared/data/mnist70k.npz (X / 255),
embeds the 10,000-row test split with the fitted map, and prints one JSON line:
fit time, transform throughput, test 10-NN accuracy (majority vote among the
10 nearest training embeddings), training kNN recall@15 (exact 15-NN in X vs
in the embedding), transform recall@15 (a test point's 15 nearest training
points in X against those in the embedding) and the process's peak RSS during
fit + transform (VmHWM).
Every system runs on THREADS threads.
"""

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from conftest import MNIST, THREADS
from peak_rss import memory_status_mb
from tsne_bench import quality

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TRAIN_ROWS = 60_000
SEED = 0

# ParametricUMAP's default is 200 edge epochs, which took 1737 s on an earlier
# machine; 50 by default keep the side-by-side run to a quarter of that
# (reported with the figures); --umap-epochs 200 runs its defaults.
PARAMETRIC_UMAP_EDGE_EPOCHS = 50


def fit_tsne_native(X, params=None):
    import tsne_native

    model = tsne_native.ParametricTSNE(n_jobs=THREADS, random_state=SEED, verbose=True,
                                       **(params or {}))
    model.fit(X)
    return model.embedding_, model.transform, {"params": params or {},
                                               "n_epochs": model.n_epochs_,
                                               "n_steps": model.n_steps_,
                                               "training_precision": model.training_precision_,
                                               "fit_seconds": model.fit_seconds_}


def fit_opentsne(X):
    from openTSNE import TSNE

    embedding = TSNE(n_jobs=THREADS, random_state=SEED, verbose=True).fit(X)
    return np.asarray(embedding), embedding.transform, {"method": "openTSNE.TSNE defaults"}


def fit_parametric_umap(X, n_epochs=PARAMETRIC_UMAP_EDGE_EPOCHS):
    import tensorflow as tf
    from umap.parametric_umap import ParametricUMAP

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    model = ParametricUMAP(n_epochs=n_epochs, n_jobs=THREADS, random_state=SEED, verbose=True)
    embedding = model.fit_transform(X)
    return embedding, model.transform, {"n_epochs": n_epochs}


SYSTEMS = {"tsne_native": fit_tsne_native, "opentsne": fit_opentsne,
           "parametric_umap": fit_parametric_umap}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("--n-train", type=int, default=TRAIN_ROWS,
                        help="train on the first N rows of the training split")
    parser.add_argument("--umap-epochs", type=int, default=PARAMETRIC_UMAP_EDGE_EPOCHS,
                        help="ParametricUMAP's n_epochs (its own default is 200)")
    parser.add_argument("--params", type=json.loads, default={}, metavar="JSON",
                        help='more ParametricTSNE arguments, e.g. \'{"n_epochs": 800}\'')
    args = parser.parse_args()

    with np.load(MNIST) as archive:
        X = archive["X"].astype(np.float32) / 255
        y = archive["y"]
    X_train, y_train = X[:args.n_train], y[:args.n_train]
    X_test, y_test = X[TRAIN_ROWS:], y[TRAIN_ROWS:]

    start = time.perf_counter()
    fit = SYSTEMS[args.system]
    if args.system == "parametric_umap":
        fit = partial(fit, n_epochs=args.umap_epochs)
    elif args.system == "tsne_native":
        fit = partial(fit, params=args.params)
    train_embedding, transform, settings = fit(X_train)
    fit_seconds = time.perf_counter() - start
    transform(X_test[:100])  # compile / warm up before timing
    start = time.perf_counter()
    test_embedding = np.asarray(transform(X_test))
    transform_seconds = time.perf_counter() - start
    peak = memory_status_mb("VmHWM")
    train_recall, accuracy, transform_recall = quality(X_train, y_train, X_test, y_test,
                                                       train_embedding, test_embedding)

    result = {
        "system": args.system,
        "n_train": len(X_train),
        "fit_s": round(fit_seconds, 1),
        "transform_points_per_s": round(len(X_test) / transform_seconds),
        "test_knn10_accuracy": round(accuracy, 4),
        "train_recall_at_15": round(train_recall, 4),
        "transform_recall_at_15": round(transform_recall, 4),
        "peak_rss_mb": round(peak),
        "settings": settings,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
