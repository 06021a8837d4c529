"""Decode one image file robustly: convert what can be kept, refuse the rest with a reason.

Real collections are messy (ILSVRC-2012's training set holds CMYK JPEGs, greyscale JPEGs and a
PNG named ``.JPEG``). The rules, applied by :func:`decode_file`:

* **kept, converted to RGB**: CMYK, greyscale (``L``), palette (``P``), RGBA/LA (alpha
  dropped), and any format PIL knows whatever the file is called (a PNG named ``.JPEG``);
* **kept, brought to 8 bits**: 16-bit greyscale (``I;16``..., and PIL's 32-bit ``I`` when its
  values fit 0–65535) as ``round(v / 257)``, so 65535 → 255; float images (``F``, e.g. a float
  TIFF) whose values lie in [0, 1] as ``round(v × 255)``. 16-bit RGB(A) files are reduced by PIL
  itself to their high byte (``v >> 8``, within one level of ``v / 257``);
* **kept, turned upright**: a photo whose EXIF orientation tag (phones write it instead of
  rotating the pixels) says it is rotated or mirrored is stored as a person sees it;
* **skipped, with a reason** (:class:`BadImageError`): zero-byte files, files that are not images
  (a text file named ``.jpg``), truncated or corrupt data, unreadable paths (a directory called
  ``x.jpg``, a broken link, no permission), and images whose shorter side is below ``min_size``
  (default: the output size — upscaling would invent detail the cache then treats as real),
  and deep images whose values lie outside the range above (a float TIFF holding 0–4000, a
  signed or 32-bit image with negative or huge values): the reason names the range found.

Nothing here changes PIL's global settings (``LOAD_TRUNCATED_IMAGES`` stays False, so a
truncated JPEG is an error, not silently grey pixels).

Geometry (:func:`resize_center_crop`) matches torchvision's ``Resize(size)`` +
``CenterCrop(size)`` on PIL images: the shorter side becomes ``size`` (bilinear with
antialiasing, the longer side ``int(size * long / short)``), then the centre square is cut.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import CourseError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff",
                    ".webp")


class BadImageError(CourseError, ValueError):
    """An image file that cannot be used; ``path`` and ``reason`` say which and why."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def is_image_file(path) -> bool:
    """True when the name ends in one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def open_rgb(path, draft_size: int | None = None) -> tuple[Image.Image, str]:
    """Open and fully decode ``path`` as an RGB PIL image.

    Returns ``(image, note)`` where ``note`` says what was converted (``""`` when the file was
    already an RGB image in the format its name says). ``draft_size`` lets the JPEG decoder
    scale down by 1/2, 1/4 or 1/8 while keeping both sides at least that size (fast, and the
    result is still resized properly afterwards). Raises :class:`BadImageError`.
    """
    path = Path(path)
    try:
        if path.is_symlink() and not path.exists():
            raise BadImageError(path, f"broken symbolic link (to {os.readlink(path)})")
        if path.is_dir():
            raise BadImageError(path, "is a directory, not an image file")
        size = path.stat().st_size
        if size == 0:
            raise BadImageError(path, "empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = img.format or "unknown"
                mode = img.mode
                if draft_size and fmt == "JPEG" and mode in ("RGB", "L"):
                    img.draft(mode, (draft_size, draft_size))
                img.load()
                orientation = _orientation(img)
                upright = ImageOps.exif_transpose(img) if orientation > 1 else img
                upright, depth_note = _to_8_bits(upright, path)
                rgb = upright.convert("RGB") if upright.mode != "RGB" else upright.copy()
    except BadImageError:
        raise
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image PIL can identify (wrong content for its "
                                  "extension, or corrupt header)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            reason = f"truncated image data ({reason})"
        elif isinstance(exc, PermissionError):
            reason = "permission denied"
        elif isinstance(exc, FileNotFoundError):
            reason = "file not found"
        raise BadImageError(path, f"cannot decode: {reason}") from None
    notes = []
    expected = _format_for_suffix(path.suffix)
    if expected and fmt != expected:
        notes.append(f"{fmt} file named {path.suffix}")
    if mode != "RGB":
        notes.append(f"converted from {mode}" + (f" ({depth_note})" if depth_note else ""))
    if orientation > 1:
        notes.append(f"turned upright (EXIF orientation {orientation}: {_ORIENTATIONS[orientation]})")
    return rgb, "; ".join(notes)


def _to_8_bits(img: Image.Image, path) -> tuple[Image.Image, str]:
    """A 16-bit, 32-bit integer or float greyscale image as an 8-bit ``L`` image, and a note
    saying how; any other image is returned as it is with ``""``.

    Integer modes (``I;16``, ``I;16B``, ``I``...): values must lie in 0–65535 and become
    ``round(v / 257)``. Float (``F``): values must lie in [0, 1] and become ``round(v × 255)``
    (halves round up). Out-of-range or non-finite values raise :class:`BadImageError` naming
    the range found (``(H, W)`` array in, ``(H, W)`` uint8 out).
    """
    if img.mode == "F":
        values = np.asarray(img, dtype=np.float64)
        if not np.isfinite(values).all():
            raise BadImageError(path, f"float image ({img.mode}) holds NaN or infinite values; "
                                      "only values in [0, 1] can be stored as 8 bits")
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 1.0:
            raise BadImageError(path, f"float image ({img.mode}) with values from {low:g} to "
                                      f"{high:g}; only values in [0, 1] can be stored as 8 bits")
        eight = np.floor(values * 255.0 + 0.5)
        return Image.fromarray(eight.astype(np.uint8)), "float values in [0, 1] × 255"
    if img.mode == "I" or img.mode.startswith("I;16"):
        values = np.asarray(img).astype(np.int64)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            raise BadImageError(path, f"integer image ({img.mode}) with values from {low} to "
                                      f"{high}; only values 0-65535 (16 bits) can be stored "
                                      "as 8 bits")
        eight = (values * 2 + 257) // 514  # round(v / 257); 257 is odd, so no ties
        return Image.fromarray(eight.astype(np.uint8)), "16-bit values ÷ 257"
    return img, ""


# EXIF tag 274: how the stored pixels must be turned to look as the photographer saw them
EXIF_ORIENTATION = 0x0112
_ORIENTATIONS = {2: "mirrored", 3: "rotated 180°", 4: "flipped upside down",
                 5: "mirrored and rotated 90° anticlockwise", 6: "rotated 90° clockwise",
                 7: "mirrored and rotated 90° clockwise", 8: "rotated 90° anticlockwise"}


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1–8; 1 = upright, also for no tag or a nonsense value)."""
    try:
        value = int(img.getexif().get(EXIF_ORIENTATION, 1))
    except (TypeError, ValueError, OSError, SyntaxError):
        return 1
    return value if value in _ORIENTATIONS else 1


def _format_for_suffix(suffix: str) -> str | None:
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF",
            ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}.get(suffix.lower())


def resize_center_crop(img: Image.Image, size: int) -> np.ndarray:
    """Shorter side to ``size``, centre ``size × size`` crop → ``(3, size, size) uint8``.

    Same arithmetic as torchvision ``Resize(size)`` + ``CenterCrop(size)`` on a PIL image.
    """
    w, h = img.size
    if (w, h) != (size, size):
        if w <= h:
            new_w, new_h = size, int(size * h / w)
        else:
            new_w, new_h = int(size * w / h), size
        if (new_w, new_h) != (w, h):
            img = img.resize((new_w, new_h), Image.BILINEAR)
        left = int(round((new_w - size) / 2.0))
        top = int(round((new_h - size) / 2.0))
        img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def decode_file(path, size: int, min_size: int | None = None,
                draft: bool = True) -> tuple[np.ndarray, str]:
    """Decode ``path`` to ``(3, size, size) uint8`` (shorter side resized, centre crop).

    Returns ``(array, note)`` (``note`` as in :func:`open_rgb`). Raises :class:`BadImageError`
    for every case the module docstring lists, including a shorter side below ``min_size``
    (default ``size``; pass a smaller value to allow upscaling).
    """
    min_size = size if min_size is None else min_size
    img, note = open_rgb(path, draft_size=size if draft else None)
    if min(img.size) < min_size:
        raise BadImageError(path, f"too small: {img.size[0]}×{img.size[1]} px, shorter side "
                                  f"below {min_size}")
    return resize_center_crop(img, size), note
