"""Training of parametric t-SNE: interrupts, and epochs of any length."""

import contextlib

import numpy as np
import pytest

import tsne_native
from tsne_native.parametric import _training


def fit_with_epoch_end(monkeypatch, on_epoch_end, n_epochs):
    """Fit a small ParametricTSNE on 200 points with ``on_epoch_end`` run after each epoch."""
    X = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    monkeypatch.setattr(_training.EarlyExaggeration, "on_epoch_end", on_epoch_end,
                        raising=False)
    tsne_native.ParametricTSNE(hidden_layers=(8,), n_epochs=n_epochs, batch_size=64,
                               random_state=0).fit(X)


def test_an_interrupt_swallowed_inside_tensorflow_still_stops_training(monkeypatch, ctrl_c):
    """TensorFlow's C++ drops a KeyboardInterrupt raised in Python code it calls
    (seen: a ``__len__`` while it makes the dataset iterator); training must stop anyway."""
    import os
    import signal

    swallowed = []

    def interrupted_and_swallowed(self, epoch, logs=None):
        if epoch == 1:
            try:
                os.kill(os.getpid(), signal.SIGINT)
            except KeyboardInterrupt:
                swallowed.append(epoch)

    with pytest.raises(KeyboardInterrupt):
        fit_with_epoch_end(monkeypatch, interrupted_and_swallowed, n_epochs=50)
    assert swallowed == [1]
    # Handlers are restored: the test process's own Ctrl-C handling is unchanged.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_epochs_of_any_length_train_without_running_out_of_steps():
    """2,000 points at batch size 64 make 42 steps an epoch, not a multiple of the
    4 steps of a compiled call: Keras then read past the step dataset and warned."""
    import warnings

    X = np.random.default_rng(1).normal(size=(2000, 5)).astype(np.float32)
    model = tsne_native.ParametricTSNE(hidden_layers=(8,), n_epochs=3, batch_size=64,
                                       random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    assert model.n_steps_ == 3 * 44  # 42 steps rounded up to whole compiled calls
    assert len(model.loss_history_) == 3


def test_an_error_tensorflow_raises_after_a_signal_is_the_interrupt(monkeypatch, ctrl_c):
    """A KeyboardInterrupt raised inside TensorFlow's context managers makes their exit
    fail with a RuntimeError (seen after SIGTERM in the CLI); training reports the interrupt."""
    import os
    import signal

    def signal_then_fail(self, epoch, logs=None):
        if epoch == 1:
            with contextlib.suppress(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
            raise RuntimeError("Exiting device scope without proper scope nesting")

    with pytest.raises(KeyboardInterrupt):
        fit_with_epoch_end(monkeypatch, signal_then_fail, n_epochs=50)


def test_an_error_without_a_signal_is_not_an_interrupt(monkeypatch):
    def fail(self, epoch, logs=None):
        raise RuntimeError("a real failure")

    with pytest.raises(RuntimeError, match="a real failure"):
        fit_with_epoch_end(monkeypatch, fail, n_epochs=5)


def test_regression_onto_a_teacher_reaches_its_scale_and_place():
    """The network learns the standardized map; its output layer is then rescaled,
    so it maps onto the teacher's own coordinates (here about 40 units from 0)."""
    from tsne_native.parametric import _network

    rng = np.random.default_rng(3)
    inputs = rng.normal(size=(2000, 6)).astype(np.float32)
    target = (inputs[:, :2] @ np.array([[30.0, -5.0], [10.0, 20.0]]) + [40.0, -25.0])
    encoder = _network.build_encoder(6, 2, (32, 32), activation="silu", seed=0)
    _training.regress_onto(encoder, inputs, target.astype(np.float32), epochs=40, seed=0)
    mapped = encoder.predict(inputs, verbose=0)
    residual = np.mean((mapped - target) ** 2) / np.mean((target - target.mean(0)) ** 2)
    assert residual < 0.05  # 1.0: the mean map; above 2 without the rescaling


def test_the_median_neighbor_distance_of_a_grid():
    grid = np.stack(np.meshgrid(np.arange(30.0), np.arange(30.0)), -1).reshape(-1, 2)
    assert _training.median_neighbor_distance((2.5 * grid).astype(np.float32), 0) == \
        pytest.approx(2.5)
