import errno
import json
import os
import re
import signal
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

import tsne_native
from tsne_native import datasets, fit, projector
from tsne_native.fit import command, readers
from tsne_native.projector import log as projector_log

# A tiny network and a short run: seconds per command on a CPU.
TINY = ["--perplexity", "10", "--epochs", "2", "--hidden-layers", "16", "--batch-size", "64",
        "--seed", "0"]
N_TRAIN = 160


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Digits split into training and new points, with labels, metadata and images."""
    X, y = datasets.load_digits()
    root = tmp_path_factory.mktemp("inputs")
    np.save(root / "train.npy", X[:N_TRAIN])
    np.save(root / "labels.npy", y[:N_TRAIN])
    (root / "labels.txt").write_text("\n".join(map(str, y[:N_TRAIN])) + "\n")
    (root / "meta.tsv").write_text("name\tparity\n" + "".join(
        f"digit{i}\t{'odd' if label % 2 else 'even'}\n" for i, label in enumerate(y[:N_TRAIN])))
    np.save(root / "images.npy", X[:N_TRAIN].reshape(-1, 8, 8))
    np.save(root / "new.npy", X[N_TRAIN:N_TRAIN + 30])
    np.save(root / "new_labels.npy", y[N_TRAIN:N_TRAIN + 30])
    return root


@pytest.fixture(scope="module")
def trained(files, tmp_path_factory):
    """One training run of the command, shared by the tests that read its log."""
    out = tmp_path_factory.mktemp("runs") / "log"
    code = fit.main([str(files / "train.npy"), "--labels", str(files / "labels.txt"),
                     "--out", str(out), *TINY, "--quiet"])
    assert code == 0
    return out


def run_command(capsys, *args):
    """main(args) in-process: (exit status, stdout lines, stderr lines)."""
    code = fit.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


@pytest.fixture(scope="module")
def tsne_log(files, tmp_path_factory):
    """A run of the command with the native optimizer."""
    out = tmp_path_factory.mktemp("runs") / "tsne"
    code = fit.main([str(files / "train.npy"), "--labels", str(files / "labels.txt"),
                     "--method", "tsne", "--perplexity", "10", "--seed", "0", "--out", str(out),
                     "--quiet"])
    assert code == 0
    return out


# -- a training run ------------------------------------------------------------------

def test_log_directory_contents(trained):
    names = {path.name for path in trained.iterdir()}
    assert {"checkpoint", "embedding.ckpt-1.index", "projector_config.pbtxt", "metadata.tsv",
            "sprite.png", "plot.png", "embedding.npy", "run.json", "model"} <= names
    assert any(name.startswith("events.out.tfevents") for name in names)
    assert not [name for name in os.listdir(trained.parent) if name.endswith(".partial")]


def test_embedding_model_and_metadata_agree(trained, files):
    embedding = np.load(trained / "embedding.npy")
    assert embedding.shape == (N_TRAIN, 2) and embedding.dtype == np.float32
    model = tsne_native.load(trained / "model")
    np.testing.assert_allclose(model.transform(np.load(files / "train.npy")), embedding,
                               atol=1e-5)
    labels = (files / "labels.txt").read_text().splitlines()
    assert (trained / "metadata.tsv").read_text().splitlines() == labels  # one column: no header


def test_run_json_summary(trained, files):
    summary = json.loads((trained / "run.json").read_text())
    assert summary["mode"] == "fit"
    assert summary["input"]["sha256"] == readers.sha256_of(files / "train.npy")
    assert summary["input"]["shape"] == [N_TRAIN, 64]
    parameters = summary["parameters"]
    assert (parameters["perplexity"], parameters["n_epochs"], parameters["hidden_layers"],
            parameters["random_state"]) == (10, 2, [16], 0)
    assert len(summary["loss_history"]) == 2
    assert summary["kl_divergence"] == pytest.approx(summary["loss_history"][-1])
    assert {"read", "affinities", "training", "export", "total"} <= set(summary["timings_s"])
    assert summary["versions"]["tensorflow"] and summary["versions"]["tsne_native"]
    assert summary["files"]["single_image_dim"] == [8, 8]  # 64 features: 8x8 sprites
    assert summary["command"][0] == "tsne-native"


def test_progress_lines_and_final_command(files, tmp_path, capsys):
    out = tmp_path / "my logs"
    code, stdout, stderr = run_command(capsys, files / "train.npy", "--out", out, *TINY,
                                       "--no-sprite")
    assert code == 0
    assert stdout[-1] == f"tensorboard --logdir '{out}'"  # quoted: the path has a space
    progress = "\n".join(stderr)
    for stage in ("160 points x 64 features", "nearest neighbours", "calibration",
                  "parametric t-SNE: affinities", f"wrote {out}", "done in"):
        assert stage in progress
    assert not (out / "sprite.png").exists()


def test_npz_labels_metadata_images_and_three_dims(files, tmp_path, capsys):
    X, y = np.load(files / "train.npy"), np.load(files / "labels.npy")
    np.savez(tmp_path / "d.npz", X=X, y=y)
    colour = np.repeat(X.reshape(-1, 4, 16, 1), 3, axis=3)  # 4 x 16 RGB thumbnails
    np.save(tmp_path / "rgb.npy", colour)
    code, _, stderr = run_command(capsys, tmp_path / "d.npz", "--metadata", files / "meta.tsv",
                                  "--images", tmp_path / "rgb.npy", "--dims", "3",
                                  "--out", tmp_path / "log", *TINY, "--quiet")
    assert code == 0, stderr
    lines = (tmp_path / "log" / "metadata.tsv").read_text().splitlines()
    assert lines[0] == "label\tname\tparity"
    assert lines[1] == f"{y[0]}\tdigit0\t{'odd' if y[0] % 2 else 'even'}"
    assert len(lines) == N_TRAIN + 1
    assert np.load(tmp_path / "log" / "embedding.npy").shape == (N_TRAIN, 3)
    summary = json.loads((tmp_path / "log" / "run.json").read_text())
    assert summary["files"]["single_image_dim"] == [16, 4]  # width, height


def test_word_vectors_use_words_and_cosine(tmp_path, capsys):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 10))
    words = [f"w{i}" for i in range(60)]
    (tmp_path / "v.vec").write_text("60 10\n" + "".join(
        f"{word} {' '.join(f'{v:.5f}' for v in row)} \n" for word, row in zip(words, vectors)))
    code, _, stderr = run_command(capsys, tmp_path / "v.vec", "--out", tmp_path / "log", *TINY,
                                  "--quiet")
    assert code == 0, stderr
    assert (tmp_path / "log" / "metadata.tsv").read_text().splitlines() == words
    summary = json.loads((tmp_path / "log" / "run.json").read_text())
    assert summary["parameters"]["metric"] == "cosine"
    assert "sprite" not in summary["files"]


def test_demo_runs_on_the_bundled_digits(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = run_command(capsys, "--epochs", "1", "--hidden-layers", "16", "--quiet")
    assert code == 0
    out = tmp_path / "logs" / "demo"  # the default --out without DATA
    assert stdout == ["tensorboard --logdir logs/demo"]
    assert np.load(out / "embedding.npy").shape == (1797, 2)
    assert len((out / "metadata.tsv").read_text().splitlines()) == 1797
    assert json.loads((out / "run.json").read_text())["files"]["single_image_dim"] == [8, 8]


# -- new points ------------------------------------------------------------------------

def test_new_points_alone(trained, files, tmp_path, capsys):
    code, _, stderr = run_command(capsys, files / "new.npy", "--model", trained,
                                  "--labels", files / "new_labels.npy", "--out", tmp_path / "new",
                                  "--quiet")
    assert code == 0, stderr
    expected = tsne_native.load(trained / "model").transform(np.load(files / "new.npy"))
    np.testing.assert_allclose(np.load(tmp_path / "new" / "embedding.npy"), expected, atol=1e-5)
    summary = json.loads((tmp_path / "new" / "run.json").read_text())
    assert summary["mode"] == "transform" and summary["with_training"] is False
    assert not (tmp_path / "new" / "model").exists()


def test_new_points_with_the_training_points(trained, files, tmp_path, capsys):
    code, _, stderr = run_command(capsys, files / "new.npy", "--model", trained,
                                  "--with-training", "--out", tmp_path / "new", "--quiet")
    assert code == 0, stderr
    embedding = np.load(tmp_path / "new" / "embedding.npy")
    assert embedding.shape == (N_TRAIN + 30, 2)
    np.testing.assert_array_equal(embedding[:N_TRAIN], np.load(trained / "embedding.npy"))
    rows = [line.split("\t") for line in
            (tmp_path / "new" / "metadata.tsv").read_text().splitlines()]
    assert rows[0] == ["label", "set"]
    assert rows[1][1] == "training" and rows[-1] == ["", "new"]  # new points have no labels
    log = projector.read_log(tmp_path / "new")
    assert log["thumbnails"].shape == (N_TRAIN + 30, 8, 8, 1)


def test_model_may_be_a_saved_estimator_directory(trained, files, tmp_path, capsys):
    code, _, stderr = run_command(capsys, files / "new.npy", "--model", trained / "model",
                                  "--with-training", "--out", tmp_path / "new", "--quiet")
    assert code == 0, stderr
    rows = (tmp_path / "new" / "metadata.tsv").read_text().splitlines()
    assert rows[0] == "training" and rows[-1] == "new"  # only the 'set' column is known


# -- bad input: one line, exit status 2, nothing written ------------------------------

def _bad_inputs(files, tmp_path):
    X = np.load(files / "train.npy").astype(np.float64)
    with_nan = X.copy()
    with_nan[7, 3] = np.nan
    np.save(tmp_path / "nan.npy", with_nan)
    np.save(tmp_path / "flat.npy", X[:, 0])
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    (tmp_path / "short.txt").write_text("1\n2\n")
    (tmp_path / "meta.tsv").write_text("a\tb\n1\t2\n")
    np.save(tmp_path / "few_images.npy", np.zeros((5, 8, 8)))
    np.save(tmp_path / "bad_images.npy", np.zeros((N_TRAIN, 7)))
    return {
        "missing": ([tmp_path / "nope.npy"], "nope.npy: no such file"),
        "unknown format": ([tmp_path / "data.parquet"], "unknown data format '.parquet'"),
        "nan": ([tmp_path / "nan.npy"], r"nan.npy contains NaN or infinity \(first in row 7\)"),
        "1-D": ([tmp_path / "flat.npy"], r"flat.npy must be 2-D"),
        "labels": ([files / "train.npy", "--labels", tmp_path / "short.txt"],
                   r"--labels .*short.txt has 2 labels for 160 points"),
        "metadata": ([files / "train.npy", "--metadata", tmp_path / "meta.tsv"],
                     r"--metadata .*meta.tsv has 1 rows for 160 points"),
        "image count": ([files / "train.npy", "--images", tmp_path / "few_images.npy"],
                        r"--images .*few_images.npy has 5 images for 160 points"),
        "image size": ([files / "train.npy", "--images", tmp_path / "bad_images.npy"],
                       r"have shape \(160, 7\); expected"),
        "perplexity": ([files / "train.npy", "--perplexity", "500"],
                       "--perplexity 500 is too large for 160 points"),
        "n_jobs": ([files / "train.npy", "--n-jobs", "0"], "n_jobs must not be 0"),
        "option value": ([files / "train.npy", "--epochs", "0"], "--epochs: must be > 0"),
        "unknown option": ([files / "train.npy", "--colour"], "unrecognized arguments"),
        "model option": ([files / "new.npy", "--model", tmp_path, "--epochs", "3"],
                         "--epochs does not apply with --model"),
        "not a model": ([files / "new.npy", "--model", tmp_path], "neither a tsne-native log"),
        "demo and data": ([files / "train.npy", "--demo"], "give DATA or --demo, not both"),
        "network option": ([files / "train.npy", "--method", "tsne", "--hidden-layers", "8"],
                           "--hidden-layers sets the network of --method parametric"),
        "method with model": ([files / "new.npy", "--model", tmp_path, "--method", "tsne"],
                              "--method does not apply with --model"),
    }


@pytest.mark.parametrize("case", ["missing", "unknown format", "nan", "1-D", "labels",
                                  "metadata", "image count", "image size", "perplexity",
                                  "n_jobs", "option value", "unknown option", "model option",
                                  "not a model", "demo and data", "network option",
                                  "method with model"])
def test_bad_input_one_line_exit_2_nothing_written(case, files, tmp_path, capsys):
    args, message = _bad_inputs(files, tmp_path)[case]
    out = tmp_path / "out"
    code, stdout, stderr = run_command(capsys, *args, "--out", out)
    assert code == 2
    assert len(stderr) == 1 and stderr[0].startswith("tsne-native: error: ")
    assert re.search(message, stderr[0]), stderr[0]
    assert stdout == []
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_model_with_wrong_feature_count(trained, tmp_path, capsys):
    np.save(tmp_path / "wide.npy", np.zeros((4, 65)))
    code, _, stderr = run_command(capsys, tmp_path / "wide.npy", "--model", trained,
                                  "--out", tmp_path / "out")
    assert code == 2
    assert stderr[-1].endswith("has 65 features, but the model in "
                               f"{trained / 'model'} was trained on 64")
    assert not (tmp_path / "out").exists()


def test_existing_output_is_kept_without_overwrite(files, tmp_path, capsys):
    out = tmp_path / "log"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, stderr = run_command(capsys, files / "train.npy", "--out", out, *TINY)
    assert code == 2
    assert stderr == [f"tsne-native: error: --out {out} exists and is not empty; pass "
                      "--overwrite to replace it"]
    code, _, stderr = run_command(capsys, files / "train.npy", "--out", out, *TINY, "--overwrite")
    assert code == 2 and "not a tsne-native log directory" in stderr[0]
    assert os.listdir(out) == ["notes.txt"]


def test_overwrite_replaces_an_earlier_log(files, tmp_path, capsys):
    out = tmp_path / "log"
    assert run_command(capsys, files / "train.npy", "--out", out, *TINY, "--quiet")[0] == 0
    first = json.loads((out / "run.json").read_text())["created"]
    (out / "stale.txt").write_text("from before")
    code, _, _ = run_command(capsys, files / "train.npy", "--out", out, *TINY, "--quiet",
                             "--overwrite")
    assert code == 0
    assert not (out / "stale.txt").exists()
    assert json.loads((out / "run.json").read_text())["created"] >= first
    assert sorted(os.listdir(tmp_path)) == ["log"]


@pytest.mark.parametrize("failure, code, message", [
    (KeyboardInterrupt(), 130, "tsne-native: interrupted; no log directory was written"),
    (OSError(errno.ENOSPC, "No space left on device"), 2,
     "tsne-native: error: [Errno 28] No space left on device"),
], ids=["interrupted", "disk-full"])
def test_failed_export_leaves_no_log(files, tmp_path, capsys, monkeypatch, failure, code,
                                     message):
    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(projector_log, "write_plot", fail)
    code_returned, _, stderr = run_command(capsys, files / "train.npy", "--out",
                                           tmp_path / "log", *TINY, "--quiet")
    assert code_returned == code
    assert stderr == [message]
    assert os.listdir(tmp_path) == []


# -- the installed command ---------------------------------------------------------

def test_subprocess_bad_input_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tsne_native.fit", str(tmp_path / "x.npy"),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"tsne-native: error: {tmp_path / 'x.npy'}: no such file"]
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_sigterm_during_training_leaves_no_log(files, tmp_path):
    X = np.load(files / "train.npy")
    np.save(tmp_path / "big.npy", np.tile(X, (3, 1)))
    process = subprocess.Popen(
        [sys.executable, "-m", "tsne_native.fit", str(tmp_path / "big.npy"), "--out",
         str(tmp_path / "log"), "--epochs", "100000", "--hidden-layers", "16"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    try:
        for line in process.stderr:  # the first progress report: training is under way
            seen.append(line)
            if "training: epoch" in line:
                break
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    stderr = "".join(seen) + rest
    assert process.returncode == 130, stderr
    assert stderr.splitlines()[-1] == "tsne-native: interrupted; no log directory was written"
    assert sorted(os.listdir(tmp_path)) == ["big.npy"]


def test_help_explains_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        fit.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    parser = fit.build_parser()
    for action in parser._actions:
        if action.option_strings and action.dest not in ("help", "version"):
            assert "(default: " in action.help, action.dest
            assert action.option_strings[-1] in text
    # Training defaults are the estimator's own.
    assert f"(default: {tsne_native.ParametricTSNE().perplexity:g})" in text
    assert f"{fit.DEMO_TRAINING['epochs']} for the demo" in text
    assert f"{command._widths(fit.DEMO_TRAINING['hidden_layers'])} for the demo" in text


def test_console_script_is_declared():
    (entry,) = [ep for ep in metadata.entry_points(group="console_scripts")
                if ep.name == "tsne-native"]
    assert entry.value == "tsne_native.fit:main"


def test_cli_checks_inputs_without_importing_tensorflow():
    code = ("import sys, tsne_native.fit as f; f.main(['missing.npy']); "
            "assert 'tensorflow' not in sys.modules and 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# -- the native optimizer ------------------------------------------------------------

def test_tsne_method_writes_the_same_log(tsne_log, files):
    names = {path.name for path in tsne_log.iterdir()}
    assert {"checkpoint", "projector_config.pbtxt", "metadata.tsv", "sprite.png", "plot.png",
            "embedding.npy", "run.json", "model"} <= names
    summary = json.loads((tsne_log / "run.json").read_text())
    assert summary["method"] == "tsne" and summary["parameters"]["perplexity"] == 10
    assert summary["loss_steps"] == [50 * i for i in range(1, 16)]  # 250 + 500 iterations
    assert summary["kl_divergence"] == pytest.approx(summary["loss_history"][-1], rel=0.05)
    assert {"affinities", "optimization"} <= set(summary["timings_s"])
    model = tsne_native.load(tsne_log / "model")
    assert isinstance(model, tsne_native.TSNE)
    np.testing.assert_allclose(np.load(tsne_log / "embedding.npy"), model.embedding_, rtol=1e-6)


def test_tsne_log_embeds_new_points(tsne_log, files, tmp_path, capsys):
    code, _, stderr = run_command(capsys, files / "new.npy", "--model", tsne_log,
                                  "--with-training", "--out", tmp_path / "new")
    assert code == 0, stderr
    embedding = np.load(tmp_path / "new" / "embedding.npy")
    assert embedding.shape == (N_TRAIN + 30, 2)
    trained = np.load(tsne_log / "embedding.npy")
    np.testing.assert_array_equal(embedding[:N_TRAIN], trained)
    # Each new digit lands among training points of its own label, mostly.
    labels = np.load(files / "labels.npy")
    new_labels = np.load(files / "new_labels.npy")
    D = ((embedding[N_TRAIN:, None] - trained[None]) ** 2).sum(-1)
    votes = [np.bincount(labels[row]).argmax() for row in np.argsort(D, axis=1)[:, :5]]
    assert np.mean(np.array(votes) == new_labels) >= 0.8

