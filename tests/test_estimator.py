import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tsne_native
from tsne_native import ParametricTSNE

# A small network and short training keep each fit to a few seconds on a CPU.
FAST = dict(hidden_layers=(64, 64), n_epochs=30, batch_size=256, learning_rate=3e-3,
            early_exaggeration_epochs=5, perplexity=15)


def make_blobs(n_per_blob, seed):
    """Five well-separated Gaussian blobs in 10-D: (X float32, labels)."""
    centres = np.random.default_rng(0).normal(scale=8.0, size=(5, 10))
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(5), n_per_blob)
    X = centres[labels] + rng.normal(size=(labels.size, 10))
    return X.astype(np.float32), labels


def knn_vote(train_points, train_labels, query_points, k=10, exclude_self=False):
    """Majority label among each query's k nearest training points."""
    D = ((query_points[:, None, :] - train_points[None, :, :]) ** 2).sum(-1)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    nearest = np.argsort(D, axis=1)[:, :k]
    return np.array([np.bincount(row).argmax() for row in train_labels[nearest]])


@pytest.fixture(scope="module")
def blob_data():
    return make_blobs(120, seed=1)


@pytest.fixture(scope="module")
def fitted(blob_data):
    X, _ = blob_data
    return ParametricTSNE(random_state=0, **FAST).fit(X)


def test_loss_decreases(fitted):
    history = fitted.loss_history_
    assert history.shape == (FAST["n_epochs"],)
    assert np.all(np.isfinite(history))
    assert history[-1] < history[0] - 0.5
    assert history[-3:].mean() < history[FAST["early_exaggeration_epochs"]]
    assert fitted.kl_divergence_ == pytest.approx(history[-1])


def test_embedding_shape_and_dtype(fitted, blob_data):
    X, _ = blob_data
    assert fitted.embedding_.shape == (len(X), 2)
    assert fitted.embedding_.dtype == np.float32
    assert np.all(np.isfinite(fitted.embedding_))
    assert fitted.n_features_in_ == X.shape[1]
    np.testing.assert_allclose(fitted.transform(X), fitted.embedding_, rtol=1e-5, atol=1e-5)


def test_blobs_come_out_separated(fitted, blob_data):
    _, labels = blob_data
    predicted = knn_vote(fitted.embedding_, labels, fitted.embedding_, exclude_self=True)
    assert np.mean(predicted == labels) >= 0.99


def test_new_points_land_in_their_own_blob(fitted, blob_data):
    _, train_labels = blob_data
    new_X, new_labels = make_blobs(20, seed=2)
    predicted = knn_vote(fitted.embedding_, train_labels, fitted.transform(new_X))
    assert np.mean(predicted == new_labels) >= 0.99


def test_three_components(blob_data):
    X, _ = blob_data
    model = ParametricTSNE(n_components=3, random_state=0, **{**FAST, "n_epochs": 3}).fit(X)
    assert model.embedding_.shape == (len(X), 3)
    assert model.transform(X[:7]).shape == (7, 3)


def test_fixed_random_state_is_deterministic(blob_data):
    X, _ = blob_data
    settings = {**FAST, "n_epochs": 4}
    first = ParametricTSNE(random_state=3, **settings).fit(X).embedding_
    second = ParametricTSNE(random_state=3, **settings).fit(X).embedding_
    other = ParametricTSNE(random_state=4, **settings).fit(X).embedding_
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_either_training_precision_gives_a_float32_network(blob_data, precision, tmp_path):
    X, labels = blob_data
    model = ParametricTSNE(random_state=0, precision=precision, **FAST).fit(X)
    assert model.training_precision_ == precision
    assert {layer.dtype_policy.name for layer in model.encoder_.layers} == {"float32"}
    predicted = knn_vote(model.embedding_, labels, model.embedding_, exclude_self=True)
    assert np.mean(predicted == labels) >= 0.99
    model.save(tmp_path / "model")
    assert tsne_native.load(tmp_path / "model").training_precision_ == precision


def test_global_random_state_untouched(blob_data):
    import random

    import tensorflow as tf

    X, _ = blob_data
    numpy_state, python_state = np.random.get_state(), random.getstate()
    tf.random.set_seed(123)
    expected_tf = tf.random.uniform([3]).numpy()
    tf.random.set_seed(123)
    ParametricTSNE(random_state=0, **{**FAST, "n_epochs": 2}).fit(X)
    after_numpy = np.random.get_state()
    assert after_numpy[0] == numpy_state[0] and np.array_equal(after_numpy[1], numpy_state[1])
    assert random.getstate() == python_state
    np.testing.assert_array_equal(tf.random.uniform([3]).numpy(), expected_tf)


def test_save_and_load_round_trip(fitted, blob_data, tmp_path):
    X, _ = blob_data
    fitted.save(tmp_path / "model")
    loaded = tsne_native.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.transform(X), fitted.transform(X), atol=1e-5)
    np.testing.assert_array_equal(loaded.embedding_, fitted.embedding_)
    np.testing.assert_array_equal(loaded.loss_history_, fitted.loss_history_)
    assert loaded.get_params()["hidden_layers"] == FAST["hidden_layers"]
    assert loaded.n_features_in_ == X.shape[1]


def test_principal_components_in_front_of_the_network(blob_data, tmp_path):
    X, labels = blob_data
    model = ParametricTSNE(input_components=4, random_state=0, **FAST).fit(X)
    assert model.encoder_.layers[0].name == "principal_components"
    assert model.encoder_.input_shape == (None, X.shape[1])
    np.testing.assert_allclose(model.transform(X), model.embedding_, atol=1e-5)
    predicted = knn_vote(model.embedding_, labels, model.embedding_, exclude_self=True)
    assert np.mean(predicted == labels) >= 0.99
    model.save(tmp_path / "model")
    np.testing.assert_allclose(tsne_native.load(tmp_path / "model").transform(X),
                               model.embedding_, atol=1e-5)


def test_saves_from_before_the_input_map_load_with_their_settings(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    state_file = tmp_path / "model" / "parametric_tsne.json"
    state = json.loads(state_file.read_text())
    newer = {"input_components": None, "activation": "relu", "repulsion_pairs": None,
             "normalization": "batch", "mid_near_weight": 0.0}
    for name in newer:
        del state["params"][name]
    state_file.write_text(json.dumps(state))
    params = tsne_native.load(tmp_path / "model").get_params()
    assert {name: params[name] for name in newer} == newer


def test_load_in_a_fresh_process_needs_no_training_data(fitted, blob_data, tmp_path):
    X, _ = blob_data
    fitted.save(tmp_path / "model")
    np.save(tmp_path / "query.npy", X[:50])
    code = textwrap.dedent(f"""
        import numpy as np, tsne_native
        model = tsne_native.load({str(tmp_path / 'model')!r})
        query = np.load({str(tmp_path / 'query.npy')!r})
        np.save({str(tmp_path / 'out.npy')!r}, model.transform(query))
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), fitted.transform(X[:50]), atol=1e-5)


def test_save_does_not_overwrite(fitted, tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fitted.save(target)
    assert (target / "keep.txt").read_text() == "mine"
    fitted.save(target, overwrite=True)
    assert json.loads((target / "parametric_tsne.json").read_text())["format_version"] == 1


def test_load_rejects_a_directory_without_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved ParametricTSNE"):
        tsne_native.load(tmp_path)


def test_get_params_and_set_params():
    model = ParametricTSNE(n_components=3, perplexity=12)
    params = model.get_params()
    assert params["n_components"] == 3 and params["perplexity"] == 12
    assert params["hidden_layers"] == (256, 256, 256) and params["activation"] == "silu"
    assert model.set_params(dof=0.5) is model and model.dof == 0.5
    with pytest.raises(ValueError, match="invalid parameter 'bogus'"):
        model.set_params(bogus=1)
    assert "n_components=3" in repr(model)


def test_scikit_learn_clone():
    from sklearn.base import clone

    model = ParametricTSNE(n_components=3, hidden_layers=(32,), random_state=5)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model


def test_transform_before_fit_raises():
    with pytest.raises(ValueError, match="not fitted yet"):
        ParametricTSNE().transform(np.zeros((3, 4)))


def test_transform_with_wrong_feature_count_raises(fitted):
    with pytest.raises(ValueError, match="X has 7 features, but this ParametricTSNE was "
                                         "fitted on 10"):
        fitted.transform(np.zeros((3, 7)))


@pytest.mark.parametrize("params, error, message", [
    ({"n_components": 0}, ValueError, "n_components must be >= 1; got 0"),
    ({"perplexity": -1}, ValueError, "perplexity must be a finite number > 0; got -1"),
    ({"perplexity": 500}, ValueError, "perplexity=500 is too large .* largest allowed is 39"),
    ({"dof": 0}, ValueError, "dof must be a finite number > 0; got 0"),
    ({"n_epochs": 0}, ValueError, "n_epochs must be >= 1; got 0"),
    ({"batch_size": 7}, ValueError, "batch_size must be >= 8; got 7"),
    ({"learning_rate": float("nan")}, ValueError, "learning_rate must be a finite number"),
    ({"hidden_layers": (64, 0)}, ValueError, "hidden_layers width must be >= 1; got 0"),
    ({"hidden_layers": "wide"}, TypeError, "hidden_layers must be a sequence"),
    ({"input_components": 0}, ValueError, "input_components must be >= 1; got 0"),
    ({"activation": "tanh"}, ValueError, "activation must be one of"),
    ({"repulsion_pairs": 0}, ValueError, "repulsion_pairs must be >= 1; got 0"),
    ({"normalization": "row"}, ValueError, "normalization must be one of 'batch', 'point'"),
    ({"mid_near_weight": -1}, ValueError, "mid_near_weight must be a finite number >= 0"),
    ({"metric": "manhattan"}, ValueError, "metric must be one of"),
    ({"precision": "float16"}, ValueError, "precision must be one of"),
    ({"init": "pca"}, ValueError, "init must be one of"),
    ({"n_jobs": 0}, ValueError, "n_jobs must not be 0"),
    ({"strategy": "mirrored"}, TypeError, "strategy must be a tf.distribute.Strategy"),
    ({"random_state": "seed"}, TypeError, "random_state must be None, an int"),
])
def test_bad_parameters_raise(params, error, message):
    X, _ = make_blobs(8, seed=0)
    with pytest.raises(error, match=message):
        ParametricTSNE(**params).fit(X)


def small_encoder(n_features, n_components=2):
    import keras

    return keras.Sequential([keras.Input(shape=(n_features,)),
                             keras.layers.Dense(32, activation="silu"),
                             keras.layers.Dense(n_components)], name="mine")


def test_a_users_encoder_is_trained_and_kept(blob_data, tmp_path):
    X, labels = blob_data
    encoder = small_encoder(X.shape[1])
    before = [w.copy() for w in encoder.get_weights()]
    model = ParametricTSNE(encoder=encoder, random_state=0, **FAST).fit(X)
    assert model.encoder_ is encoder and model.training_precision_ == "float32"
    assert any(not np.array_equal(a, b) for a, b in zip(before, encoder.get_weights()))
    predicted = knn_vote(model.embedding_, labels, model.embedding_, exclude_self=True)
    assert np.mean(predicted == labels) >= 0.95
    model.save(tmp_path / "model")
    loaded = tsne_native.load(tmp_path / "model")
    assert loaded.encoder is None and loaded.encoder_.name == "mine"
    np.testing.assert_allclose(loaded.transform(X[:20]), model.transform(X[:20]), atol=1e-6)


@pytest.mark.parametrize("make, error, message", [
    (lambda: "net", TypeError, "encoder must be a keras.Model; got str"),
    (lambda: small_encoder(7), ValueError, "encoder maps 7 features to 2 components, but X "
                                           "has 10 features"),
    (lambda: small_encoder(10, 3), ValueError, "n_components is 2"),
])
def test_a_wrong_encoder_is_refused_before_any_work(make, error, message):
    X, _ = make_blobs(8, seed=0)
    with pytest.raises(error, match=message):
        ParametricTSNE(encoder=make(), **FAST).fit(X)


@pytest.mark.parametrize("variant", [{"normalization": "point"}, {"mid_near_weight": 4.0}])
def test_training_variants_keep_the_blobs(blob_data, variant):
    X, labels = blob_data
    model = ParametricTSNE(random_state=0, **FAST, **variant).fit(X)
    assert model.get_params() | variant == model.get_params()
    predicted = knn_vote(model.embedding_, labels, model.embedding_, exclude_self=True)
    assert np.mean(predicted == labels) >= 0.99
    assert np.all(np.isfinite(model.loss_history_))
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_a_teacher_start_is_for_the_built_network_only():
    X, _ = make_blobs(8, seed=0)
    with pytest.raises(ValueError, match="init='tsne' starts the network ParametricTSNE builds"):
        ParametricTSNE(encoder=small_encoder(10), init="tsne").fit(X)


def test_a_network_taught_tsnes_map_keeps_the_blobs(blob_data, capfd):
    X, labels = blob_data
    model = ParametricTSNE(init="tsne", random_state=0, verbose=True,
                           **{**FAST, "early_exaggeration_epochs": None}).fit(X)
    assert "epochs of regression onto its map" in capfd.readouterr().err
    assert "teacher map" in model.fit_seconds_
    predicted = knn_vote(model.embedding_, labels, model.embedding_, exclude_self=True)
    assert np.mean(predicted == labels) >= 0.99
    np.testing.assert_allclose(model.transform(X[:20]), model.embedding_[:20], atol=1e-4)


def test_mixed_precision_is_for_the_built_network_only():
    X, _ = make_blobs(8, seed=0)
    with pytest.raises(ValueError, match="applies to the network ParametricTSNE builds"):
        ParametricTSNE(encoder=small_encoder(10), precision="mixed_bfloat16").fit(X)


def test_keras_callbacks_are_called_every_epoch(blob_data):
    import keras

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.losses = []

        def on_epoch_end(self, epoch, logs=None):
            self.losses.append(logs["loss"])

    X, _ = blob_data
    recorder = Recorder()
    model = ParametricTSNE(callbacks=[recorder], random_state=0,
                           **{**FAST, "n_epochs": 4}).fit(X)
    np.testing.assert_allclose(recorder.losses, model.loss_history_, rtol=1e-6)


@pytest.mark.parametrize("callbacks, message", [
    ("print", "callbacks must be a list of keras.callbacks.Callback; got str"),
    ([print], "callbacks must be keras.callbacks.Callback objects; got builtin_function"),
])
def test_callbacks_must_be_keras_callbacks(callbacks, message):
    X, _ = make_blobs(8, seed=0)
    with pytest.raises(TypeError, match=message):
        ParametricTSNE(callbacks=callbacks, **FAST).fit(X)


@pytest.mark.parametrize("bad, message", [
    (np.zeros(10), "must be 2-D"),
    (np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]), "NaN or infinity \\(first in row 1\\)"),
    (np.array([["a", "b"], ["c", "d"]]), "real numbers"),
    (make_blobs(8, seed=0)[0].astype(np.float64) * 1e100, "beyond float32's range"),
])
def test_bad_data_raises(bad, message):
    with pytest.raises(ValueError, match=message):
        ParametricTSNE(**FAST).fit(bad)


def test_verbose_reports_progress_and_log_dir_gets_scalars(blob_data, tmp_path, capfd):
    X, _ = blob_data
    ParametricTSNE(random_state=0, verbose=True, log_dir=tmp_path / "logs",
                   **{**FAST, "n_epochs": 2}).fit(X)
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "training: epoch 2/2, KL " in output
    assert "parametric t-SNE: affinities" in output
    assert list((tmp_path / "logs").rglob("events.out.tfevents.*"))


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    # Logical devices must be configured before TensorFlow starts, hence a fresh process.
    code = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        two = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, two)
        import tsne_native
        from test_estimator import FAST, make_blobs
        X, _ = make_blobs(60, seed=1)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        model = tsne_native.ParametricTSNE(random_state=0, strategy=strategy,
                                           **{{**FAST, "n_epochs": 10}}).fit(X)
        assert strategy.num_replicas_in_sync == 2
        np.save({str(tmp_path / 'history.npy')!r}, model.loss_history_)
        np.save({str(tmp_path / 'embedding.npy')!r}, model.transform(X))
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(_tests_dir()))
    history = np.load(tmp_path / "history.npy")
    assert np.all(np.isfinite(np.load(tmp_path / "embedding.npy")))
    assert history[-1] < history[0]


def _tests_dir():
    from pathlib import Path

    return Path(__file__).parent


def test_ctrl_c_stops_training_within_about_a_second(blob_data, ctrl_c):
    import os
    import signal
    import threading
    import time

    X, _ = blob_data
    ParametricTSNE(**{**FAST, "n_epochs": 1}).fit(X)  # TensorFlow imported and warmed up
    long_fit = ParametricTSNE(hidden_layers=(500, 500, 2000), n_epochs=1000, perplexity=15)
    signalled = []

    def interrupt():
        signalled.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(3.0, interrupt)  # well into training: affinities take ~0.1 s
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        long_fit.fit(X)
    stopped = time.perf_counter()
    timer.join()
    assert stopped - signalled[0] < 2.0
    # The process stays usable.
    assert ParametricTSNE(**{**FAST, "n_epochs": 1}).fit_transform(X).shape == (len(X), 2)
