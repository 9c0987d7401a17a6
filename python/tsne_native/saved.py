"""``tsne_native.load``: a model saved by ``TSNE.save`` or ``ParametricTSNE.save``."""

from __future__ import annotations

from pathlib import Path

from . import parametric, tsne


def load(path):
    """Load a :class:`TSNE` or :class:`ParametricTSNE` saved with its ``save``.

    Parameters
    ----------
    path : str or path-like
        The directory ``save`` wrote.

    Returns
    -------
    TSNE or ParametricTSNE
        Fitted: ``transform`` gives what the saved model gave.

    Raises
    ------
    FileNotFoundError
        When ``path`` holds no saved model.
    ValueError
        When the save is from an unknown format version.
    """
    directory = Path(path)
    if (directory / tsne.PARAMS_FILE).is_file():
        return tsne.load_tsne(directory)
    if (directory / parametric.PARAMS_FILE).is_file():
        return parametric.load(directory)
    raise FileNotFoundError(f"{directory} is not a saved ParametricTSNE or TSNE "
                            f"({parametric.PARAMS_FILE} or {tsne.PARAMS_FILE} not found)")
