"""Embed a chunked dask array with a saved model, each block on a dask worker.

``pip install "tsne-native[dask]"`` brings dask and distributed; this module
imports them only when it is used.  The model is read from its directory by
each worker process once (:func:`tsne_native.load`) and kept there for every
block that process embeds, so the directory must be readable at the same
path from every worker (a shared file system, or the same machine).

Examples
--------
>>> import dask.array as da
>>> import tsne_native.dask
>>> X = da.from_zarr("features.zarr").rechunk({0: 100_000, 1: -1})  # doctest: +SKIP
>>> Y = tsne_native.dask.transform("logs/mnist/model", X)  # doctest: +SKIP
>>> Y.to_zarr("embedding.zarr")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import numbers
import threading
from pathlib import Path

import numpy as np

from . import parametric, tsne

INSTALL_HINT = 'pip install "tsne-native[dask]"'
# Saved-model format -> dtype of what its transform returns.
_OUTPUT_DTYPES = {parametric.PARAMS_FILE: np.float32, tsne.PARAMS_FILE: np.float64}


def transform(model_path, X):
    """The embedding of the rows of ``X`` by the model saved at ``model_path``, as a dask array.

    Each block of rows is embedded by ``model.transform`` on the worker
    that holds it (``dask.array.map_blocks``); nothing is computed until the
    result is (``.compute()``, ``.persist()``, ``.to_zarr(...)``).  Every
    point is embedded on its own, so the result equals ``model.transform`` of
    all of ``X`` at once, whatever the chunks.

    Parameters
    ----------
    model_path : str or path-like
        A directory written by :meth:`ParametricTSNE.save
        <tsne_native.ParametricTSNE.save>` or :meth:`TSNE.save
        <tsne_native.TSNE.save>` (or the ``model`` directory of a
        ``tsne-native`` log), readable at this path by every dask worker.
    X : dask.array.Array of shape (n_samples, n_features_in_)
        Real numbers, chunked along the rows; column chunks are joined into
        one first (``X.rechunk({1: -1})``), since the model reads whole rows.

    Returns
    -------
    dask.array.Array of shape (n_samples, n_components)
        Chunked like ``X``'s rows; float32 from a ParametricTSNE, float64
        from a TSNE (the dtypes of their ``transform``).

    Raises
    ------
    ImportError
        When dask is not installed (the message names the extra to install).
    TypeError
        When ``X`` is not a dask array, or not of numbers.
    ValueError
        When ``X`` is not 2-D or its number of columns is unknown or differs
        from the model's number of features.
    FileNotFoundError
        When ``model_path`` holds no saved model.
    """
    da = _dask_array()
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask.array.Array; got {type(X).__name__} (wrap an "
                        "in-memory array with dask.array.from_array(X, chunks=(rows, -1)))")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got {X.ndim}-D with shape "
                         f"{X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers; got dtype {X.dtype}")
    path, n_features, n_components, dtype = _saved_model(model_path)
    if not isinstance(X.shape[1], numbers.Integral):
        raise ValueError("X's number of columns is unknown (nan); call "
                         "X.compute_chunk_sizes() first")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} columns (features), but the model in {path} "
                         f"was fitted on {n_features}")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return da.map_blocks(_embed_block, X, path=str(path), n_components=n_components,
                         output_dtype=np.dtype(dtype).str, dtype=dtype,
                         chunks=(X.chunks[0], (n_components,)),
                         meta=np.empty((0, n_components), dtype=dtype))


def _dask_array():
    """``dask.array``, or ImportError naming the extra that installs it."""
    try:
        import dask.array
    except ImportError as err:
        raise ImportError(f"tsne_native.dask needs dask: {INSTALL_HINT}") from err
    return dask.array


def _saved_model(model_path):
    """``(directory, n_features, n_components, output dtype)`` from a save's parameters file.

    Read without loading the model (no TensorFlow, no training data here).
    """
    directory = Path(model_path).resolve()
    for name, dtype in _OUTPUT_DTYPES.items():
        if (directory / name).is_file():
            state = json.loads((directory / name).read_text())
            return (directory, int(state["n_features_in_"]),
                    int(state["params"]["n_components"]), dtype)
    raise FileNotFoundError(f"{model_path} is not a saved ParametricTSNE or TSNE (no "
                            f"{' or '.join(_OUTPUT_DTYPES)} in it)")


def _embed_block(block, path, n_components, output_dtype):
    """One block of rows embedded by the model at ``path`` (loaded once per process)."""
    if block.shape[0] == 0:
        return np.empty((0, n_components), dtype=output_dtype)
    return np.asarray(_cached_model(path).transform(block), dtype=output_dtype)


# The models this process loaded: directory -> (parameters file's mtime, model).
_models: dict[str, tuple[int, object]] = {}
_models_lock = threading.Lock()


def _cached_model(path):
    """The model saved at ``path``, loaded by this process once and kept.

    A model saved again at the same path (a newer parameters file) is loaded again.
    Threads of one worker share the model and wait for its one load.
    """
    from .saved import load

    path = str(path)
    stamp = max(((Path(path) / name).stat().st_mtime_ns for name in _OUTPUT_DTYPES
                 if (Path(path) / name).is_file()), default=0)
    with _models_lock:
        kept = _models.get(path)
        if kept is None or kept[0] != stamp:
            kept = _models[path] = (stamp, load(path))
    return kept[1]
