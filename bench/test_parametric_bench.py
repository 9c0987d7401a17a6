"""MNIST quality and speed of parametric t-SNE against openTSNE and ParametricUMAP.

    python -m pytest bench/test_parametric_bench.py --benchmark-json=bench/parametric.json
    python bench/report.py bench/parametric.json

Each system fits the 60,000-row training split and embeds the 10,000-row test
split in a fresh process (bench/parametric_quality.py), on the same 2 threads.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MNIST

SCRIPT = Path(__file__).with_name("parametric_quality.py")


@pytest.mark.skipif(not MNIST.exists(), reason="needs ../shared/data/mnist70k.npz")
@pytest.mark.benchmark(group="MNIST fit 60k + transform 10k, 2-D")
@pytest.mark.parametrize("system", ["tsne_native", "opentsne", "parametric_umap"])
def test_mnist_embedding(benchmark, system):
    def run():
        completed = subprocess.run([sys.executable, str(SCRIPT), system], check=True,
                                   stdout=subprocess.PIPE, text=True)
        return json.loads(completed.stdout.strip().splitlines()[-1])

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    assert 0.0 <= result["test_knn10_accuracy"] <= 1.0
    assert 0.0 <= result["train_recall_at_15"] <= 1.0
