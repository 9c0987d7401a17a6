"""Parametric t-SNE on MNIST on a GPU: device placement, steps per second, fit time.

    python bench/gpu_check.py [--n-train N] [--epochs E]

Fails unless TensorFlow sees a GPU.  Prints the devices, where the encoder's
weights and the training data live, the training steps per second and the fit
time split into affinities and training, then the test 10-NN accuracy and the
train recall@15 (the quality bar a GPU's longer training, ``--epochs``, is
for).  Reads ../shared/data/mnist70k.npz (X / 255).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from conftest import MNIST
from parametric_quality import knn_recall

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TRAIN_ROWS = 60_000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=TRAIN_ROWS)
    parser.add_argument("--epochs", type=int, default=None,
                        help="n_epochs (default: ParametricTSNE's automatic choice)")
    args = parser.parse_args()

    import tensorflow as tf

    import tsne_native

    gpus = tf.config.list_logical_devices("GPU")
    print("devices:", [device.name for device in tf.config.list_logical_devices()])
    if not gpus:
        sys.exit("no GPU visible to TensorFlow")
    with np.load(MNIST) as archive:
        X = archive["X"].astype(np.float32) / 255
        y = archive["y"]
    train, test = slice(0, args.n_train), slice(TRAIN_ROWS, None)

    model = tsne_native.ParametricTSNE(n_epochs=args.epochs, random_state=0, verbose=True)
    start = time.perf_counter()
    model.fit(X[train])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    test_embedding = model.transform(X[test])
    transform_seconds = time.perf_counter() - start

    from sklearn.neighbors import KNeighborsClassifier

    accuracy = KNeighborsClassifier(10).fit(model.embedding_, y[train]).score(test_embedding,
                                                                               y[test])
    print(json.dumps({
        "gpu": gpus[0].name,
        "weights_on": sorted({w.value.device for w in model.encoder_.weights}),
        "fit_s": round(fit_seconds, 1),
        "affinities_s": round(model.fit_seconds_["affinities"], 1),
        "training_s": round(model.fit_seconds_["training"], 1),
        "training_steps_per_s": round(model.n_steps_ / model.fit_seconds_["training"], 1),
        "transform_points_per_s": round(len(test_embedding) / transform_seconds),
        "test_knn10_accuracy": round(accuracy, 4),
        "train_recall_at_15": round(knn_recall(X[train], model.embedding_), 4),
        "n_epochs": model.n_epochs_,
        "training_precision": model.training_precision_,
    }))


if __name__ == "__main__":
    main()
