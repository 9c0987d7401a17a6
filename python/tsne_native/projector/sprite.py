"""Thumbnails and the sprite: images scaled to 8 bits and tiled as the projector wants them."""

from __future__ import annotations

import math

import numpy as np

# The projector refuses sprite images larger than this (pixels per side).
MAX_SPRITE_SIDE = 8192
# Images scaled per block, to bound the float copy of memory-mapped inputs.
_IMAGES_PER_BLOCK = 8192
# Pixels per side of the disc drawn for a point without a thumbnail, when the
# sprite has room for it.
DISC_SIDE = 16
# zlib's fastest level: sprites of tens of thousands of thumbnails compress
# little better at the default level, in about twice the time (bench/RESULTS.md).
PNG_COMPRESS_LEVEL = 1


def square_side(n_values: int) -> int | None:
    """The side of a square image of ``n_values`` pixels, or None when not square."""
    side = math.isqrt(n_values)
    return side if side > 0 and side * side == n_values else None


def make_thumbnails(images, *, invert: bool = False, name: str = "images") -> np.ndarray:
    """Scale images to 8-bit thumbnails for the sprite.

    Values are mapped linearly from ``[min(0, lowest), highest]`` to
    ``[0, 255]`` (one range for all images, so brightness is comparable);
    with ``invert`` high values come out dark (ink on white).

    Parameters
    ----------
    images : array_like of shape (n, h, w), (n, h, w, channels) or (n, side * side)
        Real numbers; ``channels`` is 1 (grey), 3 (RGB) or 4 (RGBA); rows of
        ``side * side`` values are square images.
    invert : bool, default=False
        Draw high values dark.
    name : str, default="images"
        How error messages call the images.

    Returns
    -------
    ndarray of shape (n, height, width, channels), dtype uint8

    Raises
    ------
    ValueError
        For another shape, a non-numeric dtype, or NaN/infinite values.
    """
    array = np.asarray(images)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers; got dtype {array.dtype}")
    if array.ndim == 2 and square_side(array.shape[1]):
        side = square_side(array.shape[1])
        array = array.reshape(array.shape[0], side, side)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim != 4 or array.shape[3] not in (1, 3, 4) or 0 in array.shape[1:3]:
        raise ValueError(f"{name} have shape {np.shape(images)}; expected (n, height, width), "
                         "(n, height, width, 1|3|4) or (n, side*side) with a square number "
                         "of pixels")
    low, high = _value_range(array, name)
    span = high - low if high > low else 1.0
    thumbnails = np.empty(array.shape, dtype=np.uint8)
    for start in range(0, array.shape[0], _IMAGES_PER_BLOCK):
        block = slice(start, start + _IMAGES_PER_BLOCK)
        scaled = np.rint((array[block].astype(np.float64) - low) * (255.0 / span))
        thumbnails[block] = 255 - scaled if invert else scaled
    return thumbnails


def _value_range(array: np.ndarray, name: str) -> tuple[float, float]:
    """``(min(0, lowest), highest)``; raises for NaN or infinity, naming the image."""
    low, high = 0.0, -np.inf
    for start in range(0, array.shape[0], _IMAGES_PER_BLOCK):
        block = array[start:start + _IMAGES_PER_BLOCK]
        if block.dtype.kind == "f":
            finite = np.isfinite(block).reshape(block.shape[0], -1).all(axis=1)
            if not finite.all():
                image = start + int(np.flatnonzero(~finite)[0])
                raise ValueError(f"{name} contain NaN or infinity (first in image {image})")
        if block.size:
            low, high = min(low, float(block.min())), max(high, float(block.max()))
    return low, max(high, low)


def sprite_image(thumbnails: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Tile thumbnails row-major on a square canvas the projector accepts.

    Parameters
    ----------
    thumbnails : ndarray of shape (n, height, width, channels), dtype uint8

    Returns
    -------
    canvas : ndarray of shape (grid * h, grid * w, channels), dtype uint8
        ``grid = ceil(sqrt(n))``; unused tiles are black.  Thumbnails are
        shrunk to ``h x w`` when the full size would exceed 8192 pixels
        (:func:`fit_sprite`).
    single_image_dim : tuple of int
        ``(w, h)``, width first, as the projector config wants it.
    """
    return tile_sprite(fit_sprite(thumbnails))


def fit_sprite(thumbnails: np.ndarray) -> np.ndarray:
    """Thumbnails shrunk so that their sprite stays within 8192 pixels a side.

    Parameters
    ----------
    thumbnails : ndarray of shape (n, height, width, channels), dtype uint8

    Returns
    -------
    ndarray of shape (n, h, w, channels), dtype uint8
        ``thumbnails`` itself when they fit.

    Raises
    ------
    ValueError
        When even one-pixel thumbnails would not fit.
    """
    count, height, width, _ = thumbnails.shape
    grid = sprite_grid(count)
    shrink = min(1.0, MAX_SPRITE_SIDE / (grid * max(height, width)))
    if shrink == 1.0:
        return thumbnails
    height, width = int(height * shrink), int(width * shrink)
    if min(height, width) < 1:
        raise ValueError(f"{count} thumbnails do not fit a {MAX_SPRITE_SIDE}-pixel sprite")
    return resize_thumbnails(thumbnails, (height, width))


def tile_sprite(thumbnails: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Tile thumbnails that fit (:func:`fit_sprite`) row-major on a square canvas.

    Returns the canvas and ``single_image_dim`` as :func:`sprite_image` does.
    """
    count, height, width, channels = thumbnails.shape
    grid = sprite_grid(count)
    tiles = np.zeros((grid * grid, height, width, channels), dtype=np.uint8)
    tiles[:count] = thumbnails
    canvas = tiles.reshape(grid, grid, height, width, channels).transpose(0, 2, 1, 3, 4)
    return canvas.reshape(grid * height, grid * width, channels), (width, height)


def sprite_grid(count: int) -> int:
    """Thumbnails per row (and column) of the sprite of ``count`` points."""
    return max(1, math.isqrt(count - 1) + 1) if count else 1


def tinted(thumbnails: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """Each thumbnail multiplied by its point's colour, as the projector's colour map draws it.

    Parameters
    ----------
    thumbnails : ndarray of shape (n, height, width, channels), dtype uint8
        Grey, RGB or RGBA; alpha is kept.
    colors : ndarray of shape (n, 3), dtype uint8
        RGB per point.

    Returns
    -------
    ndarray of shape (n, height, width, 3 or 4), dtype uint8
    """
    out = _with_channels(thumbnails, max(3, thumbnails.shape[3]))
    if out is thumbnails:
        out = out.copy()
    for start in range(0, len(out), _IMAGES_PER_BLOCK):
        block = slice(start, start + _IMAGES_PER_BLOCK)
        scale = colors[block, np.newaxis, np.newaxis, :].astype(np.uint32)
        out[block, ..., :3] = (out[block, ..., :3] * scale + 127) // 255
    return out


def color_discs(colors: np.ndarray) -> np.ndarray:
    """A disc per point in its colour on a transparent tile, for a sprite without thumbnails.

    The projector does not draw transparent pixels, so each point shows as a
    round dot.  Tiles are ``DISC_SIDE`` pixels wide, or less where the sprite's
    size limit needs it.

    Parameters
    ----------
    colors : ndarray of shape (n, 3), dtype uint8

    Returns
    -------
    ndarray of shape (n, side, side, 4), dtype uint8
    """
    side = max(1, min(DISC_SIDE, MAX_SPRITE_SIDE // sprite_grid(len(colors))))
    offsets = np.arange(side) + 0.5 - side / 2
    inside = offsets[:, np.newaxis] ** 2 + offsets[np.newaxis, :] ** 2 <= (side / 2) ** 2
    tiles = np.zeros((len(colors), side, side, 4), dtype=np.uint8)
    tiles[:, inside, :3] = colors[:, np.newaxis, :]
    tiles[:, inside, 3] = 255
    return tiles


def thumbnails_from_sprite(path, single_image_dim, count: int) -> np.ndarray:
    """Cut the first ``count`` thumbnails back out of a sprite PNG.

    Returns
    -------
    ndarray of shape (count, h, w, channels), dtype uint8
        ``(w, h) = single_image_dim``.
    """
    from PIL import Image

    width, height = (int(v) for v in single_image_dim)
    with Image.open(path) as image:
        mode = image.mode if image.mode in ("L", "RGB", "RGBA") else "RGBA"
        pixels = np.asarray(image.convert(mode))
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    rows, columns = pixels.shape[0] // height, pixels.shape[1] // width
    if rows * columns < count:
        raise ValueError(f"{path} holds {rows * columns} thumbnails of {width}x{height}, "
                         f"fewer than the {count} points")
    pixels = pixels[:rows * height, :columns * width]
    tiles = pixels.reshape(rows, height, columns, width, -1).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(rows * columns, height, width, -1)[:count]


def resize_thumbnails(thumbnails: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 thumbnails (n, h, w, c) to ``size = (height, width)`` (box filter)."""
    from PIL import Image

    height, width = size
    if thumbnails.shape[1:3] == (height, width):
        return thumbnails
    resized = np.empty((thumbnails.shape[0], height, width, thumbnails.shape[3]), np.uint8)
    for index, thumbnail in enumerate(thumbnails):
        image = Image.fromarray(_squeeze_grey(thumbnail))
        resized[index] = np.asarray(image.resize((width, height), Image.Resampling.BOX)
                                    ).reshape(height, width, -1)
    return resized


def concatenate_thumbnails(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Stack two sets of thumbnails, bringing them to a common size and channel count.

    The second set is resized to the first's size; grey thumbnails become
    RGB (and RGB becomes RGBA) when the other set has colour (or alpha).
    """
    channels = max(first.shape[3], second.shape[3])
    second = resize_thumbnails(second, first.shape[1:3])
    return np.concatenate([_with_channels(first, channels), _with_channels(second, channels)])


def _with_channels(thumbnails: np.ndarray, channels: int) -> np.ndarray:
    if thumbnails.shape[3] == 1 and channels > 1:
        thumbnails = np.repeat(thumbnails, 3, axis=3)
    if thumbnails.shape[3] == 3 and channels == 4:
        opaque = np.full(thumbnails.shape[:3] + (1,), 255, dtype=np.uint8)
        thumbnails = np.concatenate([thumbnails, opaque], axis=3)
    return thumbnails


def _squeeze_grey(pixels: np.ndarray) -> np.ndarray:
    """Pillow wants (h, w) for grey images, (h, w, c) for colour."""
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def save_png(path, pixels: np.ndarray) -> None:
    """Write ``pixels`` (h, w, channels) uint8 as a PNG, compressed for speed."""
    from PIL import Image

    Image.fromarray(_squeeze_grey(pixels)).save(path, compress_level=PNG_COMPRESS_LEVEL)
