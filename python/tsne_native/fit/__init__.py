"""``python -m tsne_native.fit``: vectors in, a TensorBoard projector log out.

Also installed as the ``tsne-native`` console script.  Reads the data (and
labels, metadata, images), checks all of it before any work starts, trains a
:class:`~tsne_native.ParametricTSNE` (or embeds new points with a saved one)
and writes a log directory for ``tensorboard --logdir`` (see
:mod:`tsne_native.projector`).  Bad input ends the command with one line on
stderr and exit status 2; nothing is written then.

``command`` holds the options and the run, ``inputs`` and ``readers`` the
input, ``embedding`` the training or embedding, ``export`` the log.
"""

from .command import EXIT_BAD_INPUT, EXIT_INTERRUPTED, PROG, build_parser, main, run
from .embedding import DEMO_TRAINING

__all__ = [
           "DEMO_TRAINING",
           "EXIT_BAD_INPUT",
           "EXIT_INTERRUPTED",
           "PROG",
           "build_parser",
           "main",
           "run",
]
