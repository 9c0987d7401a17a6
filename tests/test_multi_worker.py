"""Training on a cluster: MultiWorkerMirroredStrategy across processes, and --distribute.

Each cluster is two worker processes on 127.0.0.1 (tests/multi_worker_fit.py,
or the command line), each with its own TF_CONFIG, on CPU only.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tsne_native
from multi_worker_fit import PARAMS, SEED_OF_WORKER
from tsne_native import fit
from tsne_native.fit import cluster

WORKER_SCRIPT = Path(__file__).with_name("multi_worker_fit.py")
# A hung collective fails the test instead of hanging CI.
CLUSTER_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def blobs_file(tmp_path_factory):
    """400 points in 20-D around 5 well separated centres, and their labels."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=400, n_features=20, centers=5, cluster_std=1.0,
                      random_state=0)
    path = tmp_path_factory.mktemp("blobs") / "blobs.npy"
    np.save(path, X.astype(np.float32))
    return path, y


def free_ports(count):
    """``count`` ports free on 127.0.0.1 just now (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def worker_environments(count):
    """The environment of each of ``count`` workers: its TF_CONFIG, CPU only, one thread."""
    cluster_spec = {"worker": [f"127.0.0.1:{port}" for port in free_ports(count)]}
    base = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
            "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    return [{**base, "TF_CONFIG": json.dumps({"cluster": cluster_spec,
                                              "task": {"type": "worker", "index": index}})}
            for index in range(count)]


def run_cluster(commands, logs):
    """Run each command as a worker of one cluster; returns (exit status, output) of each.

    Workers still running after ``CLUSTER_TIMEOUT_S`` are killed and fail the test.
    """
    processes = []
    try:
        for command, env, log in zip(commands, worker_environments(len(commands)), logs):
            with open(log, "w") as output:
                processes.append(subprocess.Popen(command, env=env, stdout=output,
                                                  stderr=subprocess.STDOUT))
        deadline = time.monotonic() + CLUSTER_TIMEOUT_S
        for process in processes:
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"a worker ran past {CLUSTER_TIMEOUT_S} s:\n"
                            + "\n".join(Path(log).read_text()[-2000:] for log in logs))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [(process.returncode, Path(log).read_text()) for process, log in zip(processes, logs)]


def knn_accuracy(embedding, labels, k=10):
    """Leave-one-out accuracy of a majority vote of each point's ``k`` nearest neighbours."""
    squared = ((embedding[:, None, :] - embedding[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(squared, np.inf)
    neighbours = np.argsort(squared, axis=1)[:, :k]
    votes = np.array([np.bincount(labels[row], minlength=labels.max() + 1).argmax()
                      for row in neighbours])
    return float(np.mean(votes == labels))


@pytest.fixture(scope="module")
def two_workers(blobs_file, tmp_path_factory):
    """The output directories of the two workers of one fit (worker 0 is the chief)."""
    data, _ = blobs_file
    root = tmp_path_factory.mktemp("cluster")
    outs = [root / f"worker{index}" for index in range(2)]
    results = run_cluster([[sys.executable, str(WORKER_SCRIPT), str(data), str(out)]
                           for out in outs], [root / f"worker{index}.log" for index in range(2)])
    for code, output in results:
        assert code == 0, output[-4000:]
    return outs


# -- the estimator under MultiWorkerMirroredStrategy ---------------------------------

def test_each_replica_of_the_cluster_draws_its_own_edges(two_workers):
    steps = [np.loadtxt(out / "steps.txt", dtype=np.int64) for out in two_workers]
    n_steps = json.loads((two_workers[0] / "fit.json").read_text())["n_steps"]
    assert [len(numbers) for numbers in steps] == [n_steps, n_steps]
    assert not set(steps[0]) & set(steps[1])
    # Together the workers use every number of the schedule once: 2 replicas per step.
    assert np.array_equal(np.sort(np.concatenate(steps)), np.arange(2 * n_steps))


def test_the_workers_train_one_network(two_workers):
    """The same weights and input map on both workers, though each had its own random_state."""
    first, second = (json.loads((out / "fit.json").read_text()) for out in two_workers)
    assert (first["chief"], second["chief"]) == (True, False)
    np.testing.assert_allclose(first["loss_history"], second["loss_history"], rtol=1e-6)
    np.testing.assert_allclose(np.load(two_workers[0] / "embedding.npy"),
                               np.load(two_workers[1] / "embedding.npy"), atol=1e-5)


def test_only_the_chief_writes(two_workers):
    chief, other = two_workers
    assert (chief / "model").is_dir() and any((chief / "tensorboard").rglob("*tfevents*"))
    assert not (other / "model").exists() and not (other / "tensorboard").exists()


def test_the_chiefs_model_maps_as_well_as_one_machine(two_workers, blobs_file):
    path, labels = blobs_file
    X = np.load(path)
    model = tsne_native.load(two_workers[0] / "model")
    embedding = model.transform(X)
    assert embedding.shape == (len(X), 2) and embedding.dtype == np.float32
    assert np.isfinite(embedding).all()
    np.testing.assert_allclose(embedding, np.load(two_workers[0] / "embedding.npy"), atol=1e-5)
    alone = tsne_native.ParametricTSNE(**PARAMS, random_state=SEED_OF_WORKER).fit(X)
    accuracy, accuracy_alone = knn_accuracy(embedding, labels), knn_accuracy(alone.embedding_,
                                                                             labels)
    assert accuracy >= 0.9, (accuracy, accuracy_alone)
    assert accuracy >= accuracy_alone - 0.05, (accuracy, accuracy_alone)


def test_a_network_taught_tsnes_map_trains_on_a_cluster(blobs_file, tmp_path):
    """init="tsne": each worker fits the same teacher, and the regression trains in sync."""
    data, labels = blobs_file
    outs = [tmp_path / f"worker{index}" for index in range(2)]
    taught = json.dumps({"init": "tsne", "n_epochs": 5, "learning_rate": 1e-4})
    logs = [tmp_path / f"worker{index}.log" for index in range(2)]
    results = run_cluster([[sys.executable, str(WORKER_SCRIPT), str(data), str(out), taught]
                           for out in outs], logs)
    for code, output in results:
        assert code == 0, output[-4000:]
    first, second = (np.load(out / "embedding.npy") for out in outs)
    np.testing.assert_allclose(first, second, atol=1e-5)
    assert knn_accuracy(first, labels) >= 0.9


# -- the command line ------------------------------------------------------------------

def test_cli_cluster_writes_one_log_from_the_chief(blobs_file, tmp_path):
    """Both workers are given the same --out; only the chief writes it."""
    data, _ = blobs_file
    out = tmp_path / "log"
    command = [sys.executable, "-m", "tsne_native.fit", str(data), "--out", str(out),
               "--distribute", "multi-worker", "--perplexity", "20", "--epochs", "5",
               "--hidden-layers", "16", "--batch-size", "64"]
    results = run_cluster([command, command], [tmp_path / "chief.log", tmp_path / "other.log"])
    for code, output in results:
        assert code == 0, output[-4000:]
    (_, chief_output), (_, other_output) = results
    assert "training as worker 0 of a cluster of 2" in chief_output
    assert f"tensorboard --logdir {out}" in chief_output
    assert "the chief writes the log" in other_output and "tensorboard --logdir" not in other_output
    summary = json.loads((out / "run.json").read_text())
    assert summary["distribute"] == {"strategy": "multi-worker", "replicas": 2}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["chief.log", "log", "other.log"]
    assert tsne_native.load(out / "model").transform(np.load(data)[:5]).shape == (5, 2)


def run_command(capsys, *args):
    code = fit.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


@pytest.mark.parametrize("tf_config, message", [
    (None, "--distribute multi-worker needs the TF_CONFIG environment variable"),
    ("{cluster", "TF_CONFIG is not JSON"),
    ('["worker"]', "TF_CONFIG must be a JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', 'TF_CONFIG needs a "cluster" object'),
    ('{"cluster": {"ps": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker"}}',
     "the cluster's job 'ps' is not one of chief, worker"),
    ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker"}}',
     "the cluster's 'worker' must be a list of \"host:port\" addresses"),
    ('{"cluster": {"worker": ["a:1"]}}', 'TF_CONFIG needs a "task" object'),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     "the task's type 'chief' is not a job of the cluster"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}',
     r"the task's index 2 is not a position in the cluster's 'worker' list \(0 to 1\)"),
], ids=["missing", "not json", "not an object", "no cluster", "ps job", "addresses",
        "no task", "task type", "task index"])
def test_multi_worker_needs_a_valid_tf_config(tf_config, message, blobs_file, tmp_path,
                                              capsys, monkeypatch):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    code, stdout, stderr = run_command(capsys, blobs_file[0], "--distribute", "multi-worker",
                                       "--out", tmp_path / "out")
    assert code == 2 and stdout == []
    assert len(stderr) == 1 and stderr[0].startswith("tsne-native: error: ")
    assert re.search(message, stderr[0]), stderr[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--method", "tsne", "--distribute", "multi-worker"],
     "--distribute multi-worker trains the network of --method parametric; --method tsne runs "
     "on one machine"),
    (["--method", "tsne", "--distribute", "mirrored"], "--distribute mirrored trains the network"),
    (["--model", "MODEL", "--distribute", "multi-worker"],
     "--distribute does not apply with --model"),
    (["--distribute", "several"], "argument --distribute: invalid choice: 'several'"),
], ids=["tsne", "tsne mirrored", "model", "unknown"])
def test_distribute_with_options_it_does_not_fit(args, message, blobs_file, tmp_path, capsys,
                                                 monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    args = [str(tmp_path) if arg == "MODEL" else arg for arg in args]
    code, _, stderr = run_command(capsys, blobs_file[0], *args, "--out", tmp_path / "out")
    assert code == 2 and len(stderr) == 1 and message in stderr[0], stderr


def test_cli_mirrored_trains_on_the_devices_of_this_machine(blobs_file, tmp_path, capsys):
    code, _, stderr = run_command(capsys, blobs_file[0], "--distribute", "mirrored",
                                  "--perplexity", "20", "--epochs", "2",
                                  "--hidden-layers", "16", "--batch-size", "64",
                                  "--out", tmp_path / "out", "--quiet")
    assert code == 0, stderr
    summary = json.loads((tmp_path / "out" / "run.json").read_text())
    assert summary["distribute"]["strategy"] == "mirrored"
    assert summary["distribute"]["replicas"] >= 1


def test_tsne_without_distribution_is_fine_with_distribute_none(blobs_file, tmp_path, capsys):
    code, _, stderr = run_command(capsys, blobs_file[0], "--method", "tsne", "--distribute",
                                  "none", "--perplexity", "20", "--out", tmp_path / "out",
                                  "--quiet")
    assert code == 0, stderr


@pytest.mark.parametrize("task, cluster_spec, chief", [
    ({"type": "worker", "index": 0}, {"worker": ["a:1", "b:1"]}, True),
    ({"type": "worker", "index": 1}, {"worker": ["a:1", "b:1"]}, False),
    ({"type": "chief", "index": 0}, {"chief": ["c:1"], "worker": ["a:1"]}, True),
    ({"type": "worker", "index": 0}, {"chief": ["c:1"], "worker": ["a:1"]}, False),
], ids=["worker 0", "worker 1", "chief", "worker 0 beside a chief"])
def test_the_chief_is_the_chief_task_else_worker_0(task, cluster_spec, chief):
    config = json.dumps({"cluster": cluster_spec, "task": task})
    found = cluster.cluster_task({"TF_CONFIG": config})
    assert found.is_chief is chief
    assert found.n_workers == sum(map(len, cluster_spec.values()))
