"""One worker of tests/test_multi_worker.py: a ParametricTSNE fit under MultiWorkerMirroredStrategy.

Run as ``python multi_worker_fit.py DATA.npy OUT_DIR [PARAMS_JSON]`` with
``TF_CONFIG`` set; ``PARAMS_JSON`` overrides some of ``PARAMS``.
Every worker writes ``OUT_DIR/steps.txt`` (the step number each of its
replica steps drew its edges from), ``embedding.npy`` and ``fit.json``; only
the chief saves the model (``OUT_DIR/model``) and writes TensorBoard scalars
(``OUT_DIR/tensorboard``, asked of every worker).
"""

import json
import os
import sys
from pathlib import Path

# A small network on few points: seconds of training on one CPU core.
PARAMS = {"n_components": 2, "perplexity": 20.0, "input_components": 10,
          "hidden_layers": (32,), "n_epochs": 40, "batch_size": 64}
# Each worker gets its own random_state: the chief's must win (a PCA input map
# seeded differently on each worker would be a different network input).
SEED_OF_WORKER = 100


def record_step_numbers(path):
    """Append each step number the edge sampler gets to ``path``, one per line."""
    import tensorflow as tf

    from tsne_native.parametric import _sampler

    batch = _sampler.EdgeSampler.batch

    def recorded(self, step):
        tf.print(step, output_stream=f"file://{path}")
        return batch(self, step)

    _sampler.EdgeSampler.batch = recorded


def main(data_path, out, params_json="{}"):
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # before other TensorFlow work
    import numpy as np

    import tsne_native

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record_step_numbers(out / "steps.txt")
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    model = tsne_native.ParametricTSNE(**(PARAMS | json.loads(params_json)), strategy=strategy,
                                       random_state=SEED_OF_WORKER + index,
                                       log_dir=out / "tensorboard")
    model.fit(np.load(data_path))
    np.save(out / "embedding.npy", model.embedding_)
    (out / "fit.json").write_text(json.dumps({
        "n_steps": model.n_steps_, "loss_history": model.loss_history_.tolist(),
        "chief": bool(strategy.extended.should_checkpoint)}))
    if strategy.extended.should_checkpoint:
        model.save(out / "model")


if __name__ == "__main__":
    main(*sys.argv[1:])
