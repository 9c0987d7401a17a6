"""The encoder network: built, standardized, copied to float32, applied, saved and loaded.

TensorFlow is imported here; only training, ``transform``, ``save`` and
``load`` import this module.
"""

from __future__ import annotations

import os
import warnings
import weakref

import numpy as np

from .._tensorflow import keras, tf

MODEL_FILE = "model.keras"


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


def standardization(features):
    """``(center, scale)`` of the built network's first layer for these features.

    ``center`` (n_features,) float32 is the mean row; ``scale`` the root mean
    square distance to it per feature (1 for constant data).
    """
    center = features.mean(axis=0, dtype=np.float64)
    squared = 0.0
    rows_per_chunk = max(1, (1 << 20) // features.shape[1])
    for start in range(0, features.shape[0], rows_per_chunk):
        chunk = features[start:start + rows_per_chunk] - center
        squared += float(np.einsum("ij,ij->", chunk, chunk))
    scale = float(np.sqrt(squared / features.size))
    return center.astype(np.float32), scale if scale > 0 else 1.0


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
