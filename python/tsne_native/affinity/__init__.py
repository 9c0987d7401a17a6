"""The t-SNE input similarities: nearest neighbours and the perplexity-calibrated joint P."""

from .joint import affinities, calibrate
from .neighbors import METRICS, nearest_neighbors

__all__ = ["METRICS", "affinities", "calibrate", "nearest_neighbors"]
