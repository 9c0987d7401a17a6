"""The encoder network: built, standardized, copied to float32, applied, saved and loaded.

TensorFlow is imported here; only training, ``transform``, ``save`` and
``load`` import this module.
"""

from __future__ import annotations

import os
import warnings
import weakref
from dataclasses import dataclass

import numpy as np

from .._tensorflow import keras, tf
from ..affinity._approximate import principal_axes, row_chunks

MODEL_FILE = "model.keras"


@dataclass(frozen=True)
class InputMap:
    """The built network's fixed first layer: center, project (optionally), scale.

    Inputs become ``(x - center) @ axes / scale``, or ``(x - center) / scale``
    without axes: one scale for all coordinates, so the geometry that P
    describes is kept.

    Attributes
    ----------
    center : ndarray of shape (n_features,), dtype float64
    axes : ndarray of shape (n_features, n_inputs), dtype float64, or None
        Leading principal axes (orthonormal columns); ``None`` keeps the features.
    scale : float
        Root mean square of the centered (projected) coordinates.
    """

    center: np.ndarray
    axes: np.ndarray | None
    scale: float

    @property
    def n_inputs(self) -> int:
        """Width of what the trained layers read."""
        return len(self.center) if self.axes is None else self.axes.shape[1]

    def apply(self, data):
        """Prepared inputs of ``data`` (n_samples, n_features): (n_samples, n_inputs) float32."""
        out = np.empty((data.shape[0], self.n_inputs), dtype=np.float32)
        for rows, chunk in self._centered_chunks(data):
            out[rows] = chunk / self.scale
        return out

    def layer(self):
        """The same map as a frozen Keras layer, first in the fitted network."""
        if self.axes is None:
            return keras.layers.Normalization(
                mean=self.center.astype(np.float32),
                variance=np.full(len(self.center), self.scale**2, dtype=np.float32),
                name="standardize")
        kernel = (self.axes / self.scale).astype(np.float32)
        bias = (-(self.center @ self.axes) / self.scale).astype(np.float32)
        return keras.layers.Dense(
            self.n_inputs, name="principal_components", trainable=False,
            kernel_initializer=keras.initializers.Constant(kernel),
            bias_initializer=keras.initializers.Constant(bias))

    def _centered_chunks(self, data):
        start = 0
        for chunk in row_chunks(data):
            rows = slice(start, start + len(chunk))
            centered = chunk.astype(np.float64) - self.center
            yield rows, centered if self.axes is None else centered @ self.axes
            start = rows.stop


def fit_input_map(features, input_components, seed):
    """The :class:`InputMap` of ``features`` (n_samples, n_features) float32.

    ``input_components`` leading principal axes (randomized SVD of a sample,
    as in the approximate search) when it is below ``n_features``; otherwise,
    or when ``None``, the features themselves.
    """
    n_features = features.shape[1]
    if input_components is None or input_components >= n_features:
        center, axes = features.mean(axis=0, dtype=np.float64), None
    else:
        center, axes = principal_axes(features, input_components, None, seed)
    squares, count = 0.0, 0
    for _, chunk in InputMap(center, axes, 1.0)._centered_chunks(features):
        squares += float(np.einsum("ij,ij->", chunk, chunk))
        count += chunk.size
    scale = float(np.sqrt(squares / count))
    return InputMap(center, axes, scale if scale > 0 else 1.0)


def build_encoder(n_inputs, n_components, hidden_layers, *, activation, seed,
                  precision="float32"):
    """The trained layers: hidden layers of ``activation``, then a linear output.

    Parameters
    ----------
    n_inputs, n_components : int
        Input width (:attr:`InputMap.n_inputs`) and output width.
    hidden_layers : tuple of int
        Widths of the hidden layers.
    activation : {"silu", "relu"}
    seed : int
        Seeds the weight initializers (global random state is not touched).
    precision : {"float32", "mixed_bfloat16"}
        Dtype policy of the hidden layers: ``"mixed_bfloat16"`` multiplies in
        bfloat16 while keeping float32 weights.  The output layer stays
        float32 either way.

    Returns
    -------
    keras.Sequential
    """
    layers = [keras.Input(shape=(n_inputs,), dtype="float32")]
    for index, width in enumerate(hidden_layers):
        layers.append(keras.layers.Dense(
            width, activation=activation, name=f"hidden_{index}", dtype=precision,
            kernel_initializer=keras.initializers.HeUniform(seed=seed + index)))
    layers.append(keras.layers.Dense(
        n_components, name="embedding",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(hidden_layers))))
    return keras.Sequential(layers, name="parametric_tsne")


def with_input_map(input_map, trained, n_features):
    """The fitted network: ``input_map``'s layer, then the ``trained`` layers, on raw rows."""
    return keras.Sequential([keras.Input(shape=(n_features,), dtype="float32"),
                             input_map.layer(), *trained.layers], name="parametric_tsne")


def multiply_adds(encoder):
    """Multiply-adds of one point's forward pass: the sizes of the network's 2-D kernels.

    Exact for a stack of dense layers; other layers count by their kernels only.
    """
    return int(sum(np.prod(weight.shape) for weight in encoder.trainable_weights
                   if len(weight.shape) == 2))


def check_encoder(encoder, n_features, n_components):
    """Raise TypeError/ValueError unless ``encoder`` maps n_features columns to n_components."""
    if not isinstance(encoder, keras.Model):
        raise TypeError(f"encoder must be a keras.Model; got {type(encoder).__name__}")
    try:
        inputs, outputs = encoder.input_shape, encoder.output_shape
    except (AttributeError, ValueError):
        raise ValueError("encoder must be built, with a known input and output shape "
                         "(start it with keras.Input(shape=(n_features,)))") from None
    if not (isinstance(inputs, tuple) and isinstance(outputs, tuple)) or len(inputs) != 2 \
            or len(outputs) != 2:
        raise ValueError(f"encoder must map (batch, n_features) to (batch, n_components); its "
                         f"input shape is {inputs} and its output shape {outputs}")
    if inputs[1] != n_features or outputs[1] != n_components:
        raise ValueError(f"encoder maps {inputs[1]} features to {outputs[1]} components, but "
                         f"X has {n_features} features and n_components is {n_components}")


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


def save_encoder(encoder, directory):
    """Save ``encoder`` as ``directory / MODEL_FILE`` (Keras 3 format)."""
    with warnings.catch_warnings():
        # Keras' H5 store converts every weight with np.array(variable), which
        # TensorFlow's variables answer without NumPy 2's copy keyword: a
        # DeprecationWarning per weight, about Keras and TensorFlow, not the save.
        warnings.filterwarnings("ignore", r"__array__ implementation doesn't accept a copy",
                                DeprecationWarning)
        encoder.save(os.path.join(directory, MODEL_FILE))


def load_encoder(directory):
    """The encoder saved by :func:`save_encoder` in ``directory``."""
    return keras.models.load_model(os.path.join(directory, MODEL_FILE), compile=False)
