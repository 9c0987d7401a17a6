"""Can a network learn t-SNE's map by regression?  A teacher experiment on MNIST.

    python bench/teacher_regression.py [--n-train N] [--epochs E] [--hidden-layers W,W,W]
                                       [--noise S] [--mix M]

Fits ``tsne_native.TSNE`` on the first N training digits (the teacher), places
the 10,000 test digits with its ``transform``, then trains a Keras network
(PCA-100 of X / 255, then ReLU layers) by mean squared error onto the teacher's
standardized map, optionally with Gaussian input noise of S times the median
nearest-neighbour distance (spread over the components), or with each input
moved a random fraction (uniform up to M) of the way towards one of its 15
nearest neighbours, its target moved alike.  Prints one line per
map, the teacher's and the network's: train recall@15, test 10-NN accuracy and
transform recall@15, as in tsne_bench.py.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import tsne_native
from conftest import THREADS
from tsne_bench import load_mnist, quality

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
COMPONENTS = 100


def principal_inputs(X_train, X_test):
    """PCA-100 coordinates of both splits, scaled to unit root mean square."""
    center = X_train.mean(axis=0)
    _, _, axes = np.linalg.svd(X_train[::4] - center, full_matrices=False)
    train, test = ((X - center) @ axes[:COMPONENTS].T for X in (X_train, X_test))
    scale = train.std()
    return train / scale, test / scale


def regress(inputs, targets, widths, epochs, noise, mix, seed=0):
    """A ReLU network trained by MSE onto ``targets``; returns its forward pass."""
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    keras.utils.set_random_seed(seed)
    network = keras.Sequential([keras.Input((inputs.shape[1],))]
                               + [keras.layers.Dense(w, activation="relu") for w in widths]
                               + [keras.layers.Dense(targets.shape[1])])
    batch = 256
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, epochs * (len(inputs) // batch))
    network.compile(keras.optimizers.Adam(schedule), "mse")
    rng = np.random.default_rng(seed)
    nearest, _ = tsne_native.nearest_neighbors(inputs, 15, n_jobs=THREADS)
    spread = noise * float(np.median(np.linalg.norm(inputs - inputs[nearest[:, 0]], axis=1)))
    rows = np.arange(len(inputs))
    for _ in range(epochs):
        partner = nearest[rows, rng.integers(0, nearest.shape[1], len(inputs))]
        share = rng.uniform(0, mix, (len(inputs), 1))
        moved = inputs + share * (inputs[partner] - inputs)
        moved_targets = targets + share * (targets[partner] - targets)
        noisy = moved + rng.normal(0, spread / np.sqrt(inputs.shape[1]), inputs.shape)
        network.fit(noisy.astype(np.float32), moved_targets.astype(np.float32),
                    batch_size=batch, epochs=1, verbose=0)
    return lambda data: network.predict(data, batch_size=8192, verbose=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--hidden-layers", default="256,256,256")
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--mix", type=float, default=0.0)
    args = parser.parse_args()
    X_train, y_train, X_test, y_test = load_mnist(args.n_train, 10_000)

    started = time.perf_counter()
    teacher = tsne_native.TSNE(n_jobs=THREADS, random_state=0).fit(X_train)
    teacher_test = teacher.transform(X_test)
    teacher_seconds = time.perf_counter() - started
    center, scale = teacher.embedding_.mean(axis=0), teacher.embedding_.std()
    targets = ((teacher.embedding_ - center) / scale).astype(np.float32)
    names = ("train_recall_at_15", "test_knn10_accuracy", "transform_recall_at_15")
    print(json.dumps({"map": "teacher TSNE", "seconds": round(teacher_seconds, 1),
                      **dict(zip(names, np.round(quality(X_train, y_train, X_test, y_test,
                                                         targets, (teacher_test - center)
                                                         / scale), 4)))}))

    inputs, test_inputs = principal_inputs(X_train, X_test)
    started = time.perf_counter()
    forward = regress(inputs, targets, [int(w) for w in args.hidden_layers.split(",")],
                      args.epochs, args.noise, args.mix)
    seconds = time.perf_counter() - started
    print(json.dumps({"map": "network regressed onto it", "seconds": round(seconds, 1),
                      "epochs": args.epochs, "hidden_layers": args.hidden_layers,
                      "noise": args.noise, "mix": args.mix,
                      **dict(zip(names, np.round(quality(X_train, y_train, X_test, y_test,
                                                         forward(inputs),
                                                         forward(test_inputs)), 4)))}))


if __name__ == "__main__":
    main()
