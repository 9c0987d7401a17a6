"""t-SNE optimized by the native core: ``TSNE`` with ``fit`` and ``transform``.

``estimator`` holds the estimator; ``_optimizer`` the gradient descent,
``_repulsion`` the all-pairs repulsion (FFT-interpolated or Barnes-Hut) and
``initialization`` the starting maps (public: pca, random).
"""

from .estimator import PARAMS_FILE, TSNE, load_tsne

__all__ = ["PARAMS_FILE", "TSNE", "load_tsne"]
