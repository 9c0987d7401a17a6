"""The colours TensorBoard's projector gives a metadata column, so a sprite can carry them.

The Projector tab always opens with "Color by: No color map", and no file of a
log can change that.  It draws each point's sprite image multiplied by the
point's colour, which is white without a colour map, so a sprite whose
thumbnails are already multiplied by their label's colour (:mod:`.sprite`)
shows the map coloured on opening, in the colours the legend gives the labels.

:func:`projector_colors` reproduces the data panel of TensorBoard 2.21 (its
``metadataChanged`` and metadata statistics; the browser test checks the
result on the page):

- a column with more than 50 distinct values is coloured only when every
  value is a number, by a gradient from ``#ffffdd`` at the smallest to
  ``#1f2d86`` at the largest;
- otherwise each distinct value is a category, ordered as JavaScript orders
  an object's keys (array-index strings ascending, then the rest as first
  met) and coloured by d3's ``schemeCategory10`` taken in steps of three,
  cycling after ten;
- in a numeric column each value is looked up by its number's text (``1.0``
  finds ``1``); a value that finds no category becomes a new one;
- an empty value is black.
"""

from __future__ import annotations

import math
import re

import numpy as np

# The projector colours a column by category when it has at most this many
# distinct values, by a gradient beyond that if it is numeric, else not at all.
MAX_PROJECTOR_COLORS = 50
_CATEGORY10 = ("1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd",
               "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf")
# The projector takes d3's palette in steps of three, so that neighbouring
# categories differ more.
PROJECTOR_PALETTE = np.array(
    [[int(_CATEGORY10[(3 * i) % 10][channel:channel + 2], 16) for channel in (0, 2, 4)]
     for i in range(10)], dtype=np.uint8)
GRADIENT_ENDS = np.array([[0xff, 0xff, 0xdd], [0x1f, 0x2d, 0x86]], dtype=np.float64)
MISSING_COLOR = np.zeros(3, dtype=np.uint8)

# JavaScript's Number() of a string, beyond what float() shares with it.
_JS_DECIMAL = re.compile(r"[+-]?(Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)")
_JS_RADIX = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_JS_ARRAY_INDEX = re.compile(r"0|[1-9]\d*")
_MAX_ARRAY_INDEX = 2 ** 32 - 2


def projector_colors(values) -> np.ndarray | None:
    """The colour the projector gives each point when coloured by this column.

    Parameters
    ----------
    values : sequence of str of length n_points
        One metadata column, as written to ``metadata.tsv``.

    Returns
    -------
    ndarray of shape (n_points, 3), dtype uint8, or None
        RGB per point; None when the projector cannot colour by the column
        (more than 50 distinct values, not all numbers).
    """
    uniques, first_rows, inverse = np.unique(np.asarray(values, dtype=str), return_index=True,
                                             return_inverse=True)
    # Distinct values in the order the projector meets them, rows in order.
    met = [str(value) for value in uniques[np.argsort(first_rows, kind="stable")]]
    categories = [value for value in met if value != ""]
    numbers = {value: _js_number(value) for value in categories}
    numeric = all(number is not None for number in numbers.values())
    if len(categories) > MAX_PROJECTOR_COLORS:
        if not numeric:
            return None
        colors = _gradient_colors(numbers)
    else:
        colors = _category_colors(categories, numeric)
    colors[""] = MISSING_COLOR
    return np.array([colors[str(value)] for value in uniques], dtype=np.uint8)[inverse]


def _category_colors(categories, numeric) -> dict:
    """Colour per value; ``categories`` in the order the projector meets them."""
    domain = {name: position for position, name in enumerate(_js_key_order(categories))}
    colors = {}
    for value in categories:
        key = _js_key(value) if numeric else value
        if key not in domain:
            domain[key] = len(domain)  # d3's ordinal scale adds unknown keys as met
        colors[value] = PROJECTOR_PALETTE[domain[key] % len(PROJECTOR_PALETTE)]
    return colors


def _gradient_colors(numbers: dict) -> dict:
    low, high = min(numbers.values()), max(numbers.values())
    span = GRADIENT_ENDS[1] - GRADIENT_ENDS[0]
    return {value: np.rint(GRADIENT_ENDS[0] + (number - low) / (high - low) * span)
            for value, number in numbers.items()}


def _js_key_order(names):
    """Object.keys order: array-index strings ascending, then the rest in insertion order."""
    indices = sorted((name for name in names if _is_array_index(name)), key=int)
    return indices + [name for name in names if not _is_array_index(name)]


def _is_array_index(name: str) -> bool:
    return bool(_JS_ARRAY_INDEX.fullmatch(name)) and int(name) <= _MAX_ARRAY_INDEX


def _js_number(text: str) -> float | None:
    """JavaScript's Number(text), or None where it gives NaN."""
    stripped = text.strip()
    if stripped == "":
        return 0.0
    if _JS_RADIX.fullmatch(stripped):
        return float(int(stripped, 0))
    if _JS_DECIMAL.fullmatch(stripped):
        return float(stripped.replace("Infinity", "inf"))
    return None


def _js_key(text: str) -> str:
    """The text of JavaScript's Number(text): ``1.0`` gives ``1``."""
    number = _js_number(text)
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    return repr(number)
