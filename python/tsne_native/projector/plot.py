"""plot.png: the map as a scatter plot coloured by label, the quick look before TensorBoard."""

from __future__ import annotations

import numpy as np

# Categories coloured individually in plot.png; more share "other" or a colour map.
MAX_LEGEND_ENTRIES = 20
OTHER_COLOR = "#bbbbbb"


def write_plot(path, embedding, *, color_by=None, legend_title="label", highlight=None,
               title="") -> None:
    """A scatter plot of the embedding, coloured by label with a legend.

    Readable from a few hundred to ~100k points: the marker size shrinks with
    the number of points, points are drawn in a random (fixed) order so no
    class hides another, and the legend uses markers of a fixed size.  Up to
    20 categories get their own colour; numeric labels with more get a colour
    bar, other labels the 19 most common colours and "other".  3-D embeddings
    are drawn in a 3-D axes; only the first three columns are used.

    Parameters
    ----------
    path : str or path-like
    embedding : ndarray of shape (n_points, n_components), n_components >= 2
    color_by : sequence of str of length n_points, optional
        The labels; without them all points share one colour.
    legend_title : str, default="label"
    highlight : ndarray of shape (n_points,), dtype bool, optional
        Points drawn last, larger and outlined in black ("new points").
    title : str
    """
    from matplotlib.figure import Figure  # no pyplot: leaves the user's backend alone

    n_points, n_components = embedding.shape
    figure = Figure(figsize=(8.5, 7), dpi=110, layout="constrained")
    axes = figure.add_subplot(projection="3d" if n_components >= 3 else None)
    coords = embedding[:, :min(3, n_components)].T
    size = float(np.clip(30000.0 / max(n_points, 1), 0.8, 30.0))
    colors, handles, color_map = _colors(color_by, n_points)
    order = np.random.default_rng(0).permutation(n_points)
    highlight = np.zeros(n_points, bool) if highlight is None else np.asarray(highlight, bool)
    common = dict(rasterized=True, **color_map)
    rest, new = order[~highlight[order]], order[highlight[order]]
    points = axes.scatter(*coords[:, rest], c=colors[rest], s=size, linewidths=0,
                          alpha=1.0 if n_points < 10000 else 0.6, **common)
    if new.size:
        points = axes.scatter(*coords[:, new], c=colors[new], s=max(4 * size, 12.0),
                              edgecolors="black", linewidths=0.6, **common)
        handles.append(_legend_marker("new points", "white", edge="black"))
    if color_map:
        figure.colorbar(points, ax=axes, label=legend_title, shrink=0.8)
    if handles:
        axes.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5),
                    frameon=False, title=legend_title if color_by is not None else None)
    _style_axes(axes, n_components)
    axes.set_title(title)
    figure.savefig(path)


def _colors(color_by, n_points):
    """RGBA (or numeric) colour per point, legend handles, colour-map settings."""
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba

    if color_by is None:
        return np.tile(to_rgba("tab:blue"), (n_points, 1)), [], {}
    names, codes, counts = np.unique(np.asarray(color_by, dtype=str), return_inverse=True,
                                     return_counts=True)
    numeric = as_numbers(names)
    if len(names) > MAX_LEGEND_ENTRIES and numeric is not None:
        values = numeric[codes]
        return values, [], {"cmap": "viridis", "vmin": values.min(), "vmax": values.max()}
    ranking = np.argsort(numeric if numeric is not None else -counts, kind="stable")
    if len(names) > MAX_LEGEND_ENTRIES:
        ranking = ranking[:MAX_LEGEND_ENTRIES - 1]
    palette = colormaps["tab10" if len(ranking) <= 10 else "tab20"]
    category_colors = np.tile(to_rgba(OTHER_COLOR), (len(names), 1))
    handles = []
    for position, category in enumerate(ranking):
        category_colors[category] = palette(position)
        handles.append(_legend_marker(_display(names[category]), category_colors[category]))
    if len(ranking) < len(names):
        handles.append(_legend_marker(f"other ({len(names) - len(ranking)})", OTHER_COLOR))
    return category_colors[codes], handles, {}


def as_numbers(names):
    try:
        return np.array([float(name) for name in names])
    except ValueError:
        return None


def _display(name: str) -> str:
    return name if name.strip() else "(no label)"


def _legend_marker(label, color, edge="none"):
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none", marker="o", markersize=7, markerfacecolor=color,
                  markeredgecolor=edge, label=label)


def _style_axes(axes, n_components):
    # t-SNE coordinates carry no units: hide the ticks, keep the scale honest.
    if n_components >= 3:
        for axis in (axes.xaxis, axes.yaxis, axes.zaxis):
            axis.set_ticklabels([])
        return
    axes.set_aspect("equal", adjustable="datalim")
    axes.set_xticks([])
    axes.set_yticks([])
