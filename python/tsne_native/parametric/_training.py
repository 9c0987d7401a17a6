"""Training of parametric t-SNE: the one entry point from the estimator into TensorFlow.

:func:`fit` probes the hardware, makes the :class:`~._plan.TrainingPlan`,
builds (or takes) the encoder, trains it on sampled P-edges and returns the
fitted network with its embedding of the training data.  Imported only when
a :class:`~tsne_native.ParametricTSNE` trains, so ``import tsne_native``
stays free of TensorFlow.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .._progress import Progress, time_left
from .._tensorflow import keras, tf
from .._validation import resolve_n_jobs
from ..affinity._approximate import neighbor_reach
from . import _network
from ._plan import (
    MID_NEAR_CANDIDATES,
    TEACHER_BATCH_SIZE,
    TEACHER_INPUT_NOISE,
    TEACHER_LEARNING_RATE,
    Hardware,
    TrainingPlan,
    cpu_multiplies_bfloat16,
    dense_multiply_adds,
    make_plan,
)
from ._sampler import EdgeSampler, TSNELoss


@dataclass
class Fitted:
    """What training returns to the estimator.

    Attributes
    ----------
    encoder : keras.Model
        The trained network, computing in float32 when it was built here.
    embedding : ndarray of shape (n_samples, n_components), dtype float32
    loss_history : ndarray of shape (n_epochs,), dtype float64
        The mean estimated KL(P || Q) of each epoch (exaggeration left out).
    plan : TrainingPlan
    """

    encoder: keras.Model
    embedding: np.ndarray
    loss_history: np.ndarray
    plan: TrainingPlan


def fit(features, P, settings, *, seed, strategy=None, encoder=None, callbacks=(),
        log_dir=None, teacher=None, verbose=False) -> Fitted:
    """Train a network on the joint probabilities ``P`` of ``features``.

    Parameters
    ----------
    features : ndarray of shape (n_samples, n_features), dtype float32
    P : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        Joint probabilities from :func:`tsne_native.affinities`.
    settings : dict
        The estimator's checked parameters (``ParametricTSNE._checked_params``).
    seed : int
        Seeds the weights and the edge sampling.
    strategy : tf.distribute.Strategy or None
        ``None``: the one in effect.  Under a ``MultiWorkerMirroredStrategy``
        every worker calls this with the same data and settings; the first
        worker's ``seed`` is used by all (:func:`shared_seed`).
    encoder : keras.Model or None
        The user's network, trained in place; ``None`` builds one.
    callbacks : sequence of keras.callbacks.Callback
        The user's, called after the trainer's own.
    log_dir : str or path-like or None
        Where to write TensorBoard loss scalars; only the chief writes them
        (``strategy.extended.should_save_summary``).
    teacher : callable or None
        ``teacher(seed)`` returns a map, ndarray of shape (n_samples,
        n_components) float32, which the built network learns by regression
        (:func:`regress_onto`) before it trains on KL(P || Q); called with the
        seed every worker shares (:func:`shared_seed`), so that all workers
        learn the same map.  Not with ``encoder``.
    verbose : bool
        Report the epochs, the loss and the time left on stderr.

    Raises
    ------
    ValueError
        When the loss stops being finite (the message suggests a smaller rate).
    KeyboardInterrupt
        On Ctrl-C or SIGTERM, at the end of the compiled call then running.
    """
    strategy = strategy or tf.distribute.get_strategy()
    seed = shared_seed(strategy, seed)
    if encoder is None:
        input_map = _network.fit_input_map(features, settings["input_components"], seed)
        inputs = input_map.apply(features)
        multiply_adds = dense_multiply_adds(input_map.n_inputs, settings["hidden_layers"],
                                            settings["n_components"])
    else:
        input_map, inputs, multiply_adds = None, features, _network.multiply_adds(encoder)
    plan = make_plan(len(features), batch_size=settings["batch_size"],
                     n_epochs=settings["n_epochs"],
                     early_exaggeration_epochs=settings["early_exaggeration_epochs"],
                     precision=settings["precision"], hardware=probe_hardware(strategy),
                     multiply_adds=multiply_adds, custom_encoder=encoder is not None,
                     taught=teacher is not None)
    with strategy.scope():
        trained = encoder if encoder is not None else _network.build_encoder(
            input_map.n_inputs, settings["n_components"], settings["hidden_layers"],
            activation=settings["activation"], seed=seed, precision=plan.precision)
        if teacher is not None:
            regress_onto(trained, inputs, teacher(seed), epochs=plan.teacher_epochs, seed=seed,
                         verbose=verbose)
        sampler = EdgeSampler(inputs, P, heads_per_step=plan.heads_per_step,
                              tails_per_head=plan.tails_per_head, seed=seed,
                              mid_near_candidates=(MID_NEAR_CANDIDATES
                                                   if settings["mid_near_weight"] else 0))
        trainer = Trainer(trained, sampler,
                          TSNELoss(settings["dof"], settings["repulsion_pairs"],
                                   settings["normalization"], settings["mid_near_weight"]))
    del inputs
    loss_history = train(trainer, plan, learning_rate=settings["learning_rate"],
                         early_exaggeration=settings["early_exaggeration"], strategy=strategy,
                         callbacks=callbacks, log_dir=log_dir, verbose=verbose)
    if not np.all(np.isfinite(loss_history)):
        raise ValueError("training diverged (the loss is not finite); try a smaller "
                         f"learning_rate than {settings['learning_rate']:g}")
    if input_map is not None:
        if plan.precision != "float32":
            trained = _network.float32_copy(trained)
        encoder = _network.with_input_map(input_map, trained, features.shape[1])
    return Fitted(encoder, _network.embed(encoder, features), loss_history, plan)


class EncoderTraining(keras.Model):
    """Trains an encoder through a ``train_step`` of its own, logging one running mean.

    The trainers below share this: the encoder is built already, their
    ``train_step`` computes a loss, and :meth:`minimize` steps the encoder's
    weights down it under the distribution strategy in effect.

    Parameters
    ----------
    encoder : keras.Model
    logged : str
        Name of the running mean logged as the ``"loss"`` of each epoch.
    """

    def __init__(self, encoder, logged):
        super().__init__()
        self.encoder = encoder
        self.tracker = keras.metrics.Mean(name=logged)
        # The encoder is built; stop Keras from probing call() with the dataset's elements.
        self.built = True

    @property
    def metrics(self):
        return [self.tracker]

    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)

    def minimize(self, tape, loss, logged):
        """Step down ``loss`` (recorded on ``tape``), add ``logged`` to the mean; the logs."""
        variables = self.encoder.trainable_variables
        # The optimizer sums gradients over replicas (of all workers); each contributes its share.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        gradients = [gradient / replicas for gradient in tape.gradient(loss, variables)]
        self.optimizer.apply_gradients(zip(gradients, variables))
        self.tracker.update_state(logged)
        return {"loss": reducible_log(self.tracker.result())}


class Trainer(EncoderTraining):
    """Trains an encoder on the batches of a sampler under a loss.

    Not saved: it holds the training data and edge list, which the fitted map
    does not need.  Each element of the training dataset is a step number,
    from which the sampler draws the step's edges.

    Parameters
    ----------
    encoder : keras.Model
    sampler : EdgeSampler
    loss : TSNELoss
        Called as ``loss(y, ids, groups, heads_per_step, tails_per_head)``,
        returning ``(attraction, repulsion, *penalties)``: the two terms of
        KL(P || Q), then any others the step minimizes too.
    """

    def __init__(self, encoder, sampler, loss):
        super().__init__(encoder, "kl_divergence")
        self.sampler = sampler
        self.objective = loss
        self.exaggeration = tf.Variable(1.0, trainable=False, name="exaggeration")

    def train_step(self, data):
        sampler = self.sampler
        ids, points = sampler.batch(tf.reshape(data, [-1])[0])
        with tf.GradientTape() as tape:
            y = self.encoder(points, training=True)
            attraction, repulsion, *penalties = self.objective(
                y, ids, sampler.groups, sampler.heads_per_step, sampler.tails_per_head)
            loss = self.exaggeration * attraction + repulsion + sum(penalties)
        return self.minimize(tape, loss, attraction + repulsion + sampler.kl_offset)


def train(trainer, plan, *, learning_rate, early_exaggeration, strategy, callbacks=(),
          log_dir=None, verbose=False):
    """Run the plan's steps; returns the loss of each epoch, (n_epochs,) float64."""
    with strategy.scope():
        # Annealing the step size to zero removes the sampling noise that
        # otherwise blurs the finest neighbourhoods (kNN recall).
        schedule = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=plan.n_steps, alpha=0.0)
        trainer.compile(optimizer=keras.optimizers.Adam(schedule),
                        steps_per_execution=plan.steps_per_execution,
                        jit_compile=plan.jit_compile)
    steps = step_numbers(plan)
    signal_received = threading.Event()
    all_callbacks = [EarlyExaggeration(trainer.exaggeration, early_exaggeration,
                                       plan.early_exaggeration_epochs),
                     StopOnSignal(signal_received)]
    if verbose:
        all_callbacks.append(TrainingProgress(plan.n_epochs))
    if log_dir is not None and strategy.extended.should_save_summary:
        all_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir),
                                                         write_graph=False))
    all_callbacks += list(callbacks)
    with signals_recorded(signal_received):
        try:
            history = trainer.fit(steps, epochs=plan.n_epochs,
                                  steps_per_epoch=plan.steps_per_epoch, shuffle=False,
                                  callbacks=all_callbacks, verbose=0)
        except Exception:
            # The handler's KeyboardInterrupt can land inside TensorFlow's own
            # context managers, whose exits then fail instead ("Exiting device
            # scope without proper scope nesting", seen after SIGTERM): that is
            # the interrupt still.
            if signal_received.is_set():
                raise KeyboardInterrupt from None
            raise
    return np.asarray(history.history["loss"], dtype=np.float64)


def regress_onto(encoder, inputs, target, *, epochs, seed, verbose=False):
    """Train the built ``encoder`` to map ``inputs`` onto ``target`` (mean squared error).

    The network learns the target centred and divided by its spread (unit
    scale suits the initialized weights and Adam's steps), and its linear
    output layer is then rescaled, so that it maps onto ``target`` itself.
    Each batch's inputs are blurred by Gaussian noise (``TEACHER_INPUT_NOISE``
    median nearest-neighbour distances in all), so that the network learns a
    map that new points, which fall between the training points, share.

    Parameters
    ----------
    encoder : keras.Sequential
        Built by :func:`~._network.build_encoder` (a linear last layer).
    inputs : ndarray of shape (n_samples, n_inputs), dtype float32
    target : ndarray of shape (n_samples, n_components), dtype float32
    epochs : int
        Passes over the points, in batches of ``TEACHER_BATCH_SIZE``.
    seed : int
        Seeds the shuffling and the noise (global random state is not touched).
    """
    center = target.mean(axis=0, dtype=np.float64)
    spread = float(np.sqrt(np.mean((target - center) ** 2))) or 1.0
    standardized = (target - center) / spread
    noise = TEACHER_INPUT_NOISE * median_neighbor_distance(inputs, seed) / np.sqrt(inputs.shape[1])
    regressor = Regressor(encoder, inputs.shape[1], noise, seed)
    steps_per_epoch = -(-len(inputs) // TEACHER_BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(TEACHER_LEARNING_RATE,
                                                      epochs * steps_per_epoch, alpha=0.0)
    regressor.compile(optimizer=keras.optimizers.Adam(schedule))
    started = time.perf_counter()
    reports = [TrainingProgress(epochs, "teacher", "mean squared error")] if verbose else []
    history = regressor.fit(packed_batches(np.hstack([inputs, standardized]), seed), epochs=epochs,
                            steps_per_epoch=steps_per_epoch, shuffle=False, verbose=0,
                            callbacks=reports)
    output = encoder.layers[-1]
    kernel, bias = output.get_weights()
    output.set_weights([kernel * spread, bias * spread + center.astype(np.float32)])
    Progress(verbose).say(f"teacher: {epochs} epochs of regression onto its map, "
                          f"mean squared error {history.history['loss'][-1]:.4f} of the "
                          f"standardized map ({time.perf_counter() - started:.1f} s)")


def packed_batches(rows, seed):
    """Endless shuffled batches of ``TEACHER_BATCH_SIZE`` of ``rows`` (n, width) float32.

    Each batch is the global batch of one step: a ``MultiWorkerMirroredStrategy``
    splits it among all replicas (``AutoShardPolicy.DATA``, as
    :func:`step_numbers`), and every worker, shuffling with the same seed,
    takes its share of the same rows.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return (tf.data.Dataset.from_tensor_slices(rows.astype(np.float32))
            .shuffle(len(rows), seed=seed, reshuffle_each_iteration=True).repeat()
            .batch(TEACHER_BATCH_SIZE).with_options(options))


class Regressor(EncoderTraining):
    """Trains an encoder by mean squared error on packed rows: its inputs, then its targets.

    Each step blurs the inputs by Gaussian noise of standard deviation
    ``noise``, from a stateless generator seeded by ``seed`` and the step
    number.  Inputs and targets travel as one tensor: Keras reduces a first
    batch across the workers of a ``MultiWorkerMirroredStrategy`` before it
    trains, which fails for a tuple ("Attempt to convert a value (PerReplica
    ...)", Keras 3 with TensorFlow 2.21).

    Parameters
    ----------
    encoder : keras.Model
    n_inputs : int
        Columns of a packed row that are inputs; the rest are the targets.
    noise : float
    seed : int
    """

    def __init__(self, encoder, n_inputs, noise, seed):
        super().__init__(encoder, "mean_squared_error")
        self.n_inputs, self.noise, self.seed = int(n_inputs), float(noise), int(seed)

    def train_step(self, data):
        inputs, targets = data[:, :self.n_inputs], data[:, self.n_inputs:]
        step = tf.cast(self.optimizer.iterations, tf.int64)
        blur = tf.random.stateless_normal(tf.shape(inputs), stddev=self.noise,
                                          seed=tf.stack([tf.constant(self.seed, tf.int64), step]))
        with tf.GradientTape() as tape:
            outputs = tf.cast(self.encoder(inputs + blur, training=True), targets.dtype)
            error = tf.reduce_mean(tf.square(outputs - targets))
        return self.minimize(tape, error, error)


def median_neighbor_distance(inputs, seed, sample_size=1000):
    """Median distance from a sample of rows of ``inputs`` to their nearest other row."""
    rows = np.random.default_rng(seed).choice(len(inputs), min(sample_size, len(inputs)),
                                              replace=False)
    return float(np.median(neighbor_reach(inputs, np.sort(rows), 1, resolve_n_jobs(None))))


def step_numbers(plan):
    """The training dataset: a batch of ``plan.replicas`` step numbers per step.

    Each replica gets one number of its step's batch, which seeds its edges
    (:meth:`EdgeSampler.sample_edges`), so each number must reach exactly one
    replica of the cluster.  One worker splits each batch among its replicas;
    across the workers of a ``MultiWorkerMirroredStrategy`` the dataset is
    sharded by element (``AutoShardPolicy.DATA``), so each worker keeps only
    its replicas' numbers.  (``AUTO`` comes to the same for a range after
    failing to shard by files; ``OFF`` would hand every worker the same
    numbers, and so the same edges.)
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return (tf.data.Dataset.range(plan.n_steps * plan.replicas).batch(plan.replicas)
            .with_options(options))


def shared_seed(strategy, seed):
    """The chief's ``seed`` on every worker of ``strategy``; ``seed`` elsewhere.

    The input map (a randomized PCA) and the edge sampling are seeded
    outside the strategy's variables: workers that drew seeds of their own
    (``random_state=None``) would train one network on differently
    projected inputs.  A ``MultiWorkerMirroredStrategy`` starts each of its
    variables on every worker with the chief's initial value, so a variable
    made from ``seed`` carries the chief's.
    """
    if not reduces_across_workers(strategy):
        return seed
    with strategy.scope():
        return int(tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed").numpy())


def reducible_log(value):
    """A logged scalar ``value`` in the shape Keras can reduce under the strategy in effect.

    Keras 3 averages a logged value over the workers of a
    ``MultiWorkerMirroredStrategy`` along its first axis, which a scalar
    lacks ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388): there it travels as shape (1,), and
    comes back the scalar mean.  Elsewhere it stays a scalar.
    """
    if reduces_across_workers(tf.distribute.get_strategy()):
        return tf.reshape(value, [1])
    return value


def reduces_across_workers(strategy):
    """Whether ``strategy`` is a ``MultiWorkerMirroredStrategy`` with several workers.

    Keras's own test before it reduces logged values across workers
    (``_collective_all_reduce_multi_worker`` in keras/src/backend/tensorflow/trainer.py).
    """
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


def worker_count(strategy):
    """The number of workers (processes) that train in sync under ``strategy``."""
    if not reduces_across_workers(strategy):
        return 1
    return strategy.num_replicas_in_sync // len(strategy.extended.worker_devices)


class EarlyExaggeration(keras.callbacks.Callback):
    """Multiplies the attraction by ``factor`` during the first ``epochs`` epochs."""

    def __init__(self, variable, factor, epochs):
        super().__init__()
        self.variable, self.factor, self.epochs = variable, float(factor), int(epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(self.factor if epoch < self.epochs else 1.0)


class TrainingProgress(keras.callbacks.Callback):
    """Reports the epoch, the loss and the time left, every ``REPORT_SECONDS`` and at the end.

    Lines read ``"{stage}: epoch 3/10, {loss_name} 1.2345, about 20 s left"``.
    """

    REPORT_SECONDS = 5.0

    def __init__(self, n_epochs, stage="training", loss_name="KL"):
        super().__init__()
        self.n_epochs = int(n_epochs)
        self.stage, self.loss_name = stage, loss_name
        self.progress = Progress(verbose=True)

    def on_train_begin(self, logs=None):
        self.started = self.reported = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now, done = time.perf_counter(), epoch + 1
        if now - self.reported < self.REPORT_SECONDS and done < self.n_epochs:
            return
        self.reported = now
        loss = (logs or {}).get("loss", float("nan"))
        self.progress.say(f"{self.stage}: epoch {done}/{self.n_epochs}, {self.loss_name} {loss:.4f}"
                          f"{time_left(self.started, done, self.n_epochs)}")


class StopOnSignal(keras.callbacks.Callback):
    """Raises ``KeyboardInterrupt`` at the end of the batch during which a signal arrived.

    The handlers of SIGINT and SIGTERM raise it wherever the main thread is,
    and TensorFlow's C++ swallows an exception raised in Python code it calls
    (a ``__len__`` while it makes the dataset's iterator), after which training
    would go on; ``received`` (set by :func:`signals_recorded`) is acted on here.
    """

    def __init__(self, received):
        super().__init__()
        self.received = received

    def on_train_batch_end(self, batch, logs=None):
        if self.received.is_set():
            raise KeyboardInterrupt


@contextmanager
def signals_recorded(received):
    """Set the event ``received`` on SIGINT or SIGTERM, then run their handlers.

    Signals with the default or an ignoring handler are left alone, as is
    everything outside the main thread (the only one that gets signals).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    previous = {signum: handler for signum, handler in previous.items() if callable(handler)}

    def record_then_handle(signum, frame):
        received.set()
        previous[signum](signum, frame)

    for signum in previous:
        signal.signal(signum, record_then_handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def probe_hardware(strategy) -> Hardware:
    """The machine as training sees it (TensorFlow takes a GPU whenever it sees one)."""
    return Hardware(gpu=gpu_visible(), cpu_bfloat16=cpu_multiplies_bfloat16(),
                    replicas=strategy.num_replicas_in_sync, workers=worker_count(strategy))


def gpu_visible():
    """Whether TensorFlow trains on a GPU."""
    return bool(tf.config.list_logical_devices("GPU"))


def check_callbacks(callbacks):
    """Raise TypeError unless ``callbacks`` is a sequence of Keras callbacks."""
    if isinstance(callbacks, keras.callbacks.Callback) or not isinstance(callbacks, (list, tuple)):
        raise TypeError("callbacks must be a list of keras.callbacks.Callback; got "
                        f"{type(callbacks).__name__}")
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError("callbacks must be keras.callbacks.Callback objects; got "
                            f"{type(callback).__name__}")


def is_strategy(value):
    """Whether ``value`` is a tf.distribute.Strategy."""
    return isinstance(value, tf.distribute.Strategy)
