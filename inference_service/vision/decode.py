"""Upload bytes to an upright RGB array, refusing bad input before it costs memory.

The header is read first so that an image bomb (a tiny file that declares a huge
canvas) is refused before a single pixel is decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own bomb guard raises at 2x its limit and only warns below it; we do our
# own pixel check from the header, so silence the warning and keep the hard stop off.
Image.MAX_IMAGE_PIXELS = None

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO"})
# The file names of those formats: what the command-line doors pick out of a folder.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".mpo")


class ImageError(ValueError):
    """Base class: the upload cannot become an image. `status` is the HTTP code to use."""

    status = 400


class NotAnImage(ImageError):
    status = 415


class UnsupportedFormat(ImageError):
    status = 415


class ImageTooLarge(ImageError):
    status = 413


class CorruptImage(ImageError):
    status = 400


# Scale factors libjpeg can decode at directly (in the DCT, far cheaper than full size + resize).
_DRAFT_FACTORS = (8, 4, 2)
_ORIENTATION = 0x0112  # the EXIF tag exif_transpose follows


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image; possibly a reduced copy of a large JPEG (see `decode_image`).

    `width`/`height` are always those of the full-resolution upright image, so
    coordinates reported to users are full-resolution ones.
    """

    pixels: np.ndarray  # H x W x 3, uint8, RGB, upright; reduced when `reduced` is True
    format: str
    size: tuple[int, int] | None = None  # full-resolution upright (width, height) when reduced
    source: bytes | None = field(default=None, repr=False)  # the upload, kept to decode full size later

    @property
    def reduced(self) -> bool:
        return self.size is not None

    @property
    def width(self) -> int:
        return int(self.size[0]) if self.size else int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.size[1]) if self.size else int(self.pixels.shape[0])

    @property
    def scale_xy(self) -> tuple[float, float]:
        """`pixels` size over full size, per axis (1.0 when not reduced)."""
        return self.pixels.shape[1] / self.width, self.pixels.shape[0] / self.height

    def full_resolution(self) -> np.ndarray:
        """The full-resolution pixels, decoding the upload again if only a reduced copy is held."""
        if not self.reduced or self.source is None:
            return self.pixels
        return decode_image(self.source, max_pixels=self.width * self.height).pixels


def _draft_factor(width: int, height: int, min_side: int) -> int:
    """The largest JPEG scale-down that keeps the longer side at `min_side` or more."""
    longest = max(width, height)
    for factor in _DRAFT_FACTORS:
        if -(-longest // factor) >= min_side:
            return factor
    return 1


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Flatten transparency onto white, as a browser shows it on a page.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit grey: scale to 8 bits instead of clipping.
        array = np.asarray(image, dtype=np.float64)
        top = array.max() if array.size else 0.0
        scale = 255.0 / top if top > 255 else 1.0
        grey = np.clip(array * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 1.0)
        grey = ((array - low) / max(high - low, 1e-12) * 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image behind the bytes, its format and size checked from the header alone."""
    if not data:
        raise NotAnImage("The upload is empty.")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise NotAnImage("The upload is not an image Pillow can identify.") from None
    except Exception as exc:
        raise CorruptImage(f"The image header is unreadable ({type(exc).__name__}).") from None
    fmt = image.format or "unknown"
    if fmt not in ALLOWED_FORMATS:
        raise UnsupportedFormat(f"Image format {fmt} is not supported.")
    width, height = image.size
    if width < 1 or height < 1:
        raise CorruptImage("The image has no pixels.")
    if width * height > max_pixels:
        raise ImageTooLarge(f"The image is {width}x{height} pixels; the limit is {max_pixels:,} pixels.")
    return image


def _upright_pixels(image: Image.Image, factor: int) -> tuple[np.ndarray, int, bool]:
    """Upright RGB pixels, decoded at 1/`factor` scale where libjpeg can; (pixels, the factor used,
    whether EXIF turned the picture by 90 degrees)."""
    width, height = image.size
    try:
        if factor > 1:
            image.draft(image.mode, (width // factor, height // factor))
            factor = 1 if image.size == (width, height) else factor
        # EXIF orientations 5-8 turn the picture by 90 degrees: width and height swap.
        turned = factor > 1 and image.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
        image.seek(0)  # first frame of an animation
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # not a copy of the whole picture
        pixels = np.asarray(_to_rgb(image), dtype=np.uint8)
    except ImageError:
        raise
    except Exception as exc:
        raise CorruptImage(f"The image data is broken ({type(exc).__name__}).") from None
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise CorruptImage("The image could not be converted to RGB.")
    return np.ascontiguousarray(pixels), factor, turned


def decode_image(data: bytes, max_pixels: int = 40_000_000, min_side: int = 0) -> DecodedImage:
    """Decode JPEG/PNG/WebP/BMP/TIFF/GIF bytes into an upright RGB array.

    With `min_side` > 0, a JPEG at least twice that size on its longer side is
    decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling), keeping the longer
    side at `min_side` or more; the result is then `reduced` and keeps the bytes so
    that `full_resolution()` can still give every pixel (for small faces).
    Raises a subclass of `ImageError` whose `status` says which HTTP error fits.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open(data, max_pixels)
        fmt, (width, height) = image.format or "unknown", image.size
        factor = _draft_factor(width, height, min_side) if min_side > 0 and fmt == "JPEG" else 1
        pixels, factor, turned = _upright_pixels(image, factor)
    if factor > 1:
        size = (height, width) if turned else (width, height)
        return DecodedImage(pixels=pixels, format=fmt, size=size, source=data)
    return DecodedImage(pixels=pixels, format=fmt)


# What decoding takes at its peak (measured: 114 MB for a 12-megapixel JPEG): Pillow's RGB buffer (4 bytes a
# pixel), and while it becomes an array its bytes twice over (Pillow joins them from chunks: 3 + 3).
DECODE_BYTES_PER_PIXEL = 10


def decoded_bytes(data: bytes, max_pixels: int = 40_000_000) -> int:
    """The memory decoding `data` at full size takes, from the header alone (so a caller can reserve it
    before decoding); raises what `decode_image` would for a bad header or a bomb."""
    width, height = _open(data, max_pixels).size
    return width * height * DECODE_BYTES_PER_PIXEL


def read_image_file(path: str) -> np.ndarray:
    """Decode an image file from disk (training and CLI use) into upright RGB."""
    with open(path, "rb") as handle:
        return decode_image(handle.read(), max_pixels=200_000_000).pixels
