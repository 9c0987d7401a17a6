"""TensorFlow side of parametric t-SNE: the encoder network and its training loop.

Imported only when a :class:`~tsne_native.ParametricTSNE` trains, embeds or
loads, so ``import tsne_native`` stays free of TensorFlow.

Training samples P-edges ``(i, j)`` with probability ``p_ij`` on the device and
uses the pairs of independently drawn batch points as the repulsive set,
normalizing Q over those pairs (a negative-sampling view of t-SNE, Damrich et
al., ICLR 2023).  With ``e = sampled edges``, ``r = repulsive pairs`` and
``w(d) = (1 + d^2 / dof)^(-(dof + 1) / 2)`` a step minimizes

    exaggeration * mean_e[-log w(y_i, y_j)] + log mean_r w(y_k, y_l),

an estimate of KL(P || Q) up to constants; the reported loss adds them back.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import weakref
from contextlib import contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

MODEL_FILE = "model.keras"
# Tails drawn per head: more edges per embedded point (3 of every 4 points in a
# batch are tails); a head and its tails are not paired in the repulsion.
TAILS_PER_HEAD = 3


def build_encoder(n_features, n_components, hidden_layers, *, center, scale, seed,
                  precision="float32"):
    """The map from data to embedding: standardization, ReLU layers, linear output.

    Parameters
    ----------
    n_features, n_components : int
        Input and output widths.
    hidden_layers : tuple of int
        Widths of the hidden ReLU layers.
    center : ndarray of shape (n_features,), dtype float32
        Subtracted from every input row.
    scale : float
        Inputs are divided by it after centering (one number for all features,
        so the geometry that P describes is kept).
    seed : int
        Seeds the weight initializers (global random state is not touched).
    precision : {"float32", "mixed_bfloat16"}
        Dtype policy of the hidden layers: ``"mixed_bfloat16"`` multiplies in
        bfloat16 while keeping float32 weights.  The standardization and the
        output layer stay float32 either way.

    Returns
    -------
    keras.Sequential
    """
    layers = [keras.Input(shape=(n_features,), dtype="float32"),
              keras.layers.Normalization(mean=center, variance=np.full(n_features, scale**2),
                                         name="standardize")]
    for index, width in enumerate(hidden_layers):
        layers.append(keras.layers.Dense(
            width, activation="relu", name=f"hidden_{index}", dtype=precision,
            kernel_initializer=keras.initializers.HeUniform(seed=seed + index)))
    layers.append(keras.layers.Dense(
        n_components, name="embedding",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(hidden_layers))))
    return keras.Sequential(layers, name="parametric_tsne")


class EdgeSampler(keras.Model):
    """Trains an encoder on P-edges sampled on the device.

    Each step draws heads ``i`` with probability ``sum_j p_ij`` and, for each
    head, ``tails_per_head`` tails ``j`` with probability ``p_ij / sum_j p_ij``:
    every drawn edge still has probability ``p_ij``, but the batch's forward
    pass serves more edges than with one tail per head.

    Not saved: it holds the training data and edge list, which the fitted map
    does not need.  Each element of the training dataset is a step number; the
    step's edges are drawn with a stateless generator seeded by it, so a run is
    reproducible and no Python runs per step.

    Parameters
    ----------
    encoder : keras.Model
        The network being trained.
    data : ndarray of shape (n_samples, n_features), dtype float32
    P : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The symmetric joint probabilities (summing to 1).
    heads_per_step, tails_per_head : int
        The step embeds ``heads_per_step * (1 + tails_per_head)`` points (per
        replica) and attracts along ``heads_per_step * tails_per_head`` edges.
    dof : float
        Degrees of freedom of the Student-t kernel.
    seed : int
        Seeds the edge sampling.
    """

    def __init__(self, encoder, data, P, *, heads_per_step, tails_per_head, dof, seed):
        super().__init__()
        self.encoder = encoder
        self.heads_per_step = heads_per_step
        self.tails_per_head = tails_per_head
        self.dof = float(dof)
        self.seed = int(seed)
        n = data.shape[0]
        # Constant terms of KL(P || Q): sum p log p and the number of ordered pairs.
        positive = P.data[P.data > 0]  # far neighbours' weights may underflow to 0
        self.kl_offset = float(np.sum(positive * np.log(positive)) + np.log(n) + np.log(n - 1))
        cumulative = np.cumsum(P.data, dtype=np.float64)
        row_end = P.indptr[1:] - 1
        # Bisection steps that narrow the longest row down to one edge.
        self._row_search_steps = int(np.ceil(np.log2(max(2, np.diff(P.indptr).max())))) + 1
        # Variables, not constants: a compiled step must not bake the data in.
        self._data = tf.Variable(data, trainable=False, name="data")
        self._tails = tf.Variable(P.indices.astype(np.int32), trainable=False, name="tails")
        self._cumulative = tf.Variable(cumulative, trainable=False, name="cumulative_weights")
        self._row_cumulative = tf.Variable(cumulative[row_end], trainable=False,
                                           name="row_cumulative_weights")
        self._row_start = tf.Variable(P.indptr[:-1].astype(np.int32), trainable=False,
                                      name="row_start")
        self._row_end = tf.Variable(row_end.astype(np.int32), trainable=False, name="row_end")
        self.exaggeration = tf.Variable(1.0, trainable=False, name="exaggeration")
        # The batch holds the heads, then each head's tails: its draw group.
        heads_range = np.arange(heads_per_step, dtype=np.int32)
        self._groups = tf.constant(np.concatenate([heads_range,
                                                   np.repeat(heads_range, tails_per_head)]))
        self.kl_tracker = keras.metrics.Mean(name="kl_divergence")
        # The encoder is built; stop Keras from probing call() with step numbers.
        self.built = True

    @property
    def metrics(self):
        return [self.kl_tracker]

    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)

    def sample_edges(self, step):
        """Heads (heads_per_step,) and their tails (heads_per_step, tails_per_head) for one step."""
        seeds = tf.random.experimental.stateless_split(
            tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)]), num=2)
        # Heads: the row of an edge drawn with probability p_ij.
        uniform = tf.random.stateless_uniform([self.heads_per_step], seed=seeds[0],
                                              dtype=tf.float64)
        heads = tf.searchsorted(self._row_cumulative, uniform * self._row_cumulative[-1],
                                side="right")
        heads = tf.minimum(heads, tf.shape(self._row_end)[0] - 1)
        # Tails: edges of the head's row, by inverse CDF within the row.
        row_start = tf.repeat(tf.gather(self._row_start, heads), self.tails_per_head)
        row_end = tf.repeat(tf.gather(self._row_end, heads), self.tails_per_head)
        row_high = tf.gather(self._cumulative, row_end)
        row_low = tf.where(row_start > 0, tf.gather(self._cumulative, tf.maximum(row_start - 1, 0)),
                           tf.zeros_like(row_high))
        uniform = tf.random.stateless_uniform(tf.shape(row_high), seed=seeds[1],
                                              dtype=tf.float64)
        edges = self._first_above(row_low + uniform * (row_high - row_low), row_start, row_end)
        return heads, tf.reshape(tf.gather(self._tails, edges), [-1, self.tails_per_head])

    def _first_above(self, targets, low, high):
        """Per target, the first edge in [low, high] whose cumulative weight exceeds it (else high).

        A bisection within each row: ``tf.searchsorted`` over the whole edge
        list costs time linear in its length (50 ms a step on MNIST 60k).
        """
        for _ in range(self._row_search_steps):
            middle = (low + high) // 2
            above = tf.gather(self._cumulative, middle) > targets
            high = tf.where(above, middle, high)
            low = tf.where(above, low, tf.minimum(middle + 1, high))
        return high
    def log_kernel(self, squared_distances):
        """log w for squared embedding distances (Student-t with ``dof`` degrees of freedom)."""
        return -0.5 * (self.dof + 1.0) * tf.math.log1p(squared_distances / self.dof)

    def attraction(self, y_heads, y_tails):
        """mean over the batch's edges of -log w(y_i, y_j).

        ``y_heads`` is (heads, n_components), ``y_tails`` (heads, tails_per_head, n_components).
        """
        squared = tf.reduce_sum(tf.square(y_heads[:, None, :] - y_tails), axis=2)
        return -tf.reduce_mean(self.log_kernel(squared))

    def kernel(self, a, b):
        """w between every row of ``a`` (p, m) and of ``b`` (q, m): shape (p, q)."""
        squared = (tf.reduce_sum(tf.square(a), axis=1)[:, None]
                   + tf.reduce_sum(tf.square(b), axis=1)[None, :]
                   - 2.0 * tf.matmul(a, b, transpose_b=True))
        return tf.exp(self.log_kernel(tf.maximum(squared, 0.0)))

    def log_mean_kernel(self, y, ids, groups):
        """log of the mean of w over the batch's pairs of distinct, independently drawn points.

        ``y`` is (m, n_components), ``ids`` (m,) the points' rows and
        ``groups`` (m,) numbers each head and its tails alike.  A head and its
        own tails are P-neighbours by construction, and a point drawn twice
        has w = 1 with itself: counting such pairs would make the repulsion
        act mostly between the very points the attraction pulls together (w
        near 1 against a typical 1e-4 on large data).
        """
        independent = tf.cast(tf.logical_and(tf.not_equal(groups[:, None], groups[None, :]),
                                             tf.not_equal(ids[:, None], ids[None, :])), y.dtype)
        total = tf.reduce_sum(self.kernel(y, y) * independent)
        return tf.math.log(total / tf.reduce_sum(independent))

    def train_step(self, data):
        heads, tails = self.sample_edges(tf.reshape(data, [-1])[0])
        ids = tf.concat([heads, tf.reshape(tails, [-1])], axis=0)
        points = tf.gather(self._data, ids)
        with tf.GradientTape() as tape:
            y = self.encoder(points, training=True)
            y_heads = y[:self.heads_per_step]
            y_tails = tf.reshape(y[self.heads_per_step:],
                                 [self.heads_per_step, self.tails_per_head, -1])
            attraction = self.attraction(y_heads, y_tails)
            repulsion = self.log_mean_kernel(y, ids, self._groups)
            loss = self.exaggeration * attraction + repulsion
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            # The optimizer sums gradients over replicas; each contributes its share.
            scaled = loss / replicas
        variables = self.encoder.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        self.kl_tracker.update_state(attraction + repulsion + self.kl_offset)
        return {"loss": self.kl_tracker.result()}


class EarlyExaggeration(keras.callbacks.Callback):
    """Multiplies the attraction by ``factor`` during the first ``epochs`` epochs."""

    def __init__(self, variable, factor, epochs):
        super().__init__()
        self.variable, self.factor, self.epochs = variable, float(factor), int(epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(self.factor if epoch < self.epochs else 1.0)


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


def train(encoder, data, P, *, batch_size, n_epochs, learning_rate, dof, early_exaggeration,
          early_exaggeration_epochs, seed, strategy, log_dir, verbose):
    """Train ``encoder`` in place on the joint probabilities ``P``.

    Parameters
    ----------
    encoder : keras.Model
        Built inside ``strategy``'s scope.
    data : ndarray of shape (n_samples, n_features), dtype float32
    P : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        Joint probabilities from :func:`tsne_native.affinities`.
    batch_size, n_epochs : int
        Points embedded per step and replica; an epoch samples ``n_samples`` edges.
    learning_rate, dof, early_exaggeration : float
    early_exaggeration_epochs, seed : int
    strategy : tf.distribute.Strategy
    log_dir : str or None
        Where to write TensorBoard loss scalars.
    verbose : bool
        Show the Keras progress bar.

    Returns
    -------
    loss_history : ndarray of shape (n_epochs,), dtype float64
        The mean estimated KL(P || Q) of each epoch (exaggeration left out).
    n_steps : int
        Optimizer steps taken.
    """
    replicas = strategy.num_replicas_in_sync
    heads_per_step = max(1, batch_size // (1 + TAILS_PER_HEAD))
    edges_per_step = heads_per_step * TAILS_PER_HEAD * replicas
    steps_per_epoch = max(1, -(-data.shape[0] // edges_per_step))
    # XLA is left to GPUs: on this project's 2-core CPU the compiled step
    # was slower (about 600 against 500 ms on the 8x8 digits).
    on_gpu = gpu_visible()
    steps_per_execution = _steps_per_execution(steps_per_epoch, on_gpu)
    # Whole compiled calls per epoch: a partial last call made Keras read past
    # the end of the step dataset ("Your input ran out of data").
    steps_per_epoch = -(-steps_per_epoch // steps_per_execution) * steps_per_execution
    with strategy.scope():
        sampler = EdgeSampler(encoder, data, P, heads_per_step=heads_per_step,
                              tails_per_head=TAILS_PER_HEAD, dof=dof, seed=seed)
        # Annealing the step size to zero removes the sampling noise that
        # otherwise blurs the finest neighbourhoods (kNN recall).
        schedule = keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=n_epochs * steps_per_epoch, alpha=0.0)
        sampler.compile(optimizer=keras.optimizers.Adam(schedule),
                        steps_per_execution=steps_per_execution, jit_compile=on_gpu)
    # One element per replica and step: the step number seeding that replica's edges.
    steps = tf.data.Dataset.range(n_epochs * steps_per_epoch * replicas).batch(replicas)
    signal_received = threading.Event()
    callbacks = [EarlyExaggeration(sampler.exaggeration, early_exaggeration,
                                   early_exaggeration_epochs),
                 StopOnSignal(signal_received)]
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False))
    with signals_recorded(signal_received):
        history = sampler.fit(steps, epochs=n_epochs, steps_per_epoch=steps_per_epoch,
                              shuffle=False, callbacks=callbacks,
                              verbose=_keras_verbosity(verbose))
    return np.asarray(history.history["loss"], dtype=np.float64), n_epochs * steps_per_epoch


# Steps run by one compiled call on a CPU.  Python (and so Ctrl-C) gets control
# only between calls: 4 steps of the default network take about half a second
# on 2 cores, while a GPU step is fast enough to run a whole epoch per call.
CPU_STEPS_PER_EXECUTION = 4


def _steps_per_execution(steps_per_epoch, on_gpu):
    return steps_per_epoch if on_gpu else min(steps_per_epoch, CPU_STEPS_PER_EXECUTION)


def _keras_verbosity(verbose):
    """Keras' live bar on a terminal; one line per epoch into files and pipes."""
    if not verbose:
        return 0
    return 1 if sys.stdout.isatty() else 2


def float32_copy(encoder):
    """A copy of ``encoder`` that computes in float32 throughout, with the same weights.

    Networks trained in mixed precision are kept and saved this way: their
    output then does not depend on whether the machine multiplies bfloat16
    natively, and loading them needs no dtype policy.
    """
    config = encoder.get_config()
    for layer in config["layers"]:
        layer["config"]["dtype"] = "float32"
    copy = keras.Sequential.from_config(config)
    copy.set_weights(encoder.get_weights())
    return copy


def gpu_visible():
    """Whether TensorFlow trains on a GPU (it takes one whenever it sees one)."""
    return bool(tf.config.list_logical_devices("GPU"))


def native_bfloat16(cpuinfo_path="/proc/cpuinfo"):
    """Whether training should multiply in bfloat16: no GPU, and a CPU with bfloat16 dot products.

    Those CPUs (AVX512-BF16 or AMX) multiply bfloat16 about twice as fast as
    float32; elsewhere bfloat16 is emulated and slower.  The CPU's flags are
    read from Linux's ``/proc/cpuinfo``; without it the answer is ``False``.
    """
    if gpu_visible():
        return False
    try:
        with open(cpuinfo_path) as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo
                          if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def embed(encoder, data, batch_size=8192):
    """Apply ``encoder`` to ``data`` (n_samples × n_features float32) in batches.

    A plain compiled forward pass, without ``predict``'s per-batch machinery.

    Returns
    -------
    ndarray of shape (n_samples, n_components), dtype float32
    """
    forward = _forward_passes.get(encoder)
    if forward is None:
        forward = tf.function(lambda x: encoder(x, training=False), reduce_retracing=True)
        _forward_passes[encoder] = forward
    out = np.empty((data.shape[0], encoder.output_shape[-1]), dtype=np.float32)
    for start in range(0, data.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        out[rows] = forward(tf.convert_to_tensor(data[rows])).numpy()
    return out


# Compiled forward pass of each encoder (weak keys: dropped with the model).
_forward_passes = weakref.WeakKeyDictionary()


def default_strategy():
    """The distribution strategy in effect (the default one on a single device)."""
    return tf.distribute.get_strategy()


def is_strategy(value):
    return isinstance(value, tf.distribute.Strategy)


def save_encoder(encoder, path):
    encoder.save(path)


def load_encoder(path):
    return keras.models.load_model(path, compile=False)
