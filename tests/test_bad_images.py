"""Robust decoding: each bad-input case of the datasets issue, one file each, made here.

Kept (converted to RGB): CMYK JPEG, greyscale JPEG, palette PNG, RGBA PNG, a PNG named .JPEG.
Skipped with a reason: truncated JPEG, zero-byte file, text file named .jpg, image below the
size, a directory named like an image, a broken symlink (tests run as root, so chmod 000 would
not stop a read; these two are the unreadable cases).
"""

from __future__ import annotations

import io
import json
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from torchvision.transforms import v2

from course_lib.datasets.cache import EmptyClassError, build_cache
from course_lib.datasets.images import BadImageError, decode_file, is_image_file, open_rgb
from course_lib.paths import COMPLETE_MARKER

SIZE = 32


def noise_image(w: int, h: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    return rgb if mode == "RGB" else rgb.convert(mode)


def jpeg_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def make_files(root):
    """Every case in ``root/<class>/``; returns {case: path}."""
    good, bad = root / "good", root / "bad"
    good.mkdir(parents=True)
    bad.mkdir()
    files = {}
    files["rgb_jpeg"] = good / "rgb.JPEG"
    noise_image(48, 40, 1).save(files["rgb_jpeg"], format="JPEG")
    files["cmyk_jpeg"] = good / "cmyk.JPEG"
    noise_image(40, 40, 2, "CMYK").save(files["cmyk_jpeg"], format="JPEG")
    files["grey_jpeg"] = good / "grey.jpg"
    noise_image(40, 50, 3, "L").save(files["grey_jpeg"], format="JPEG")
    files["png_named_jpeg"] = good / "really_a_png.JPEG"
    noise_image(36, 36, 4).save(files["png_named_jpeg"], format="PNG")
    files["palette_png"] = good / "palette.png"
    noise_image(40, 40, 5, "P").save(files["palette_png"], format="PNG")
    files["rgba_png"] = good / "rgba.png"
    noise_image(40, 40, 6, "RGBA").save(files["rgba_png"], format="PNG")

    files["truncated_jpeg"] = bad / "truncated.JPEG"
    data = jpeg_bytes(noise_image(64, 64, 7))
    files["truncated_jpeg"].write_bytes(data[: len(data) // 2])
    files["zero_bytes"] = bad / "empty.JPEG"
    files["zero_bytes"].write_bytes(b"")
    files["text_named_jpg"] = bad / "notes.jpg"
    files["text_named_jpg"].write_text("this is not an image\n")
    files["too_small"] = bad / "tiny.JPEG"
    noise_image(SIZE - 8, SIZE + 20, 8).save(files["too_small"], format="JPEG")
    files["directory"] = bad / "folder.JPEG"
    files["directory"].mkdir()
    files["broken_link"] = bad / "gone.JPEG"
    files["broken_link"].symlink_to(bad / "does_not_exist.JPEG")
    return files


KEPT = {"rgb_jpeg": "", "cmyk_jpeg": "converted from CMYK", "grey_jpeg": "converted from L",
        "png_named_jpeg": "PNG file named .JPEG", "palette_png": "converted from P",
        "rgba_png": "converted from RGBA"}
SKIPPED = {"truncated_jpeg": "truncated", "zero_bytes": "empty file",
           "text_named_jpg": "not an image", "too_small": "too small",
           "directory": "directory", "broken_link": "broken symbolic link"}


@pytest.fixture
def files(tmp_path):
    return make_files(tmp_path / "tree")


@pytest.mark.parametrize("case", sorted(KEPT))
def test_convertible_files_are_kept_as_rgb(files, case):
    array, note = decode_file(files[case], SIZE, draft=False)
    assert array.shape == (3, SIZE, SIZE) and array.dtype == np.uint8
    assert note == KEPT[case]
    # the same pixels as PIL's own conversion, resized and cropped as torchvision does
    with Image.open(files[case]) as img:
        reference = v2.CenterCrop(SIZE)(v2.Resize(SIZE)(img.convert("RGB")))
    assert np.array_equal(array, np.asarray(reference).transpose(2, 0, 1))


def test_greyscale_becomes_three_equal_channels(files):
    array, _ = decode_file(files["grey_jpeg"], SIZE)
    assert np.array_equal(array[0], array[1]) and np.array_equal(array[1], array[2])


@pytest.mark.parametrize("case", sorted(SKIPPED))
def test_bad_files_are_refused_with_a_reason(files, case):
    with pytest.raises(BadImageError) as info:
        decode_file(files[case], SIZE)
    assert SKIPPED[case] in info.value.reason
    assert info.value.path == str(files[case])
    assert str(files[case]) in str(info.value)


def test_truncated_jpeg_is_not_silently_padded(files):
    """PIL's global LOAD_TRUNCATED_IMAGES must stay off (we never change it)."""
    with pytest.raises(BadImageError):
        open_rgb(files["truncated_jpeg"])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("w,h", [(50, 32), (32, 77), (100, 64), (33, 33)])
def test_resize_and_centre_crop_match_torchvision(tmp_path, w, h):
    path = tmp_path / "x.png"
    noise_image(w, h, w * h).save(path)
    array, _ = decode_file(path, SIZE)
    reference = v2.Compose([v2.PILToTensor(), v2.Resize(SIZE, antialias=True),
                            v2.CenterCrop(SIZE)])(Image.open(path))
    # tensor bilinear resize differs from PIL's in rounding by at most 1 level
    diff = (torch.from_numpy(array).int() - reference.int()).abs()
    assert diff.max() <= 1


def test_draft_jpeg_decoding_stays_close_to_full_decoding(tmp_path):
    path = tmp_path / "big.jpg"
    smooth = Image.fromarray(np.kron(np.random.default_rng(0).integers(0, 256, (4, 4, 3)),
                                     np.ones((64, 64, 1))).astype(np.uint8))
    smooth.save(path, format="JPEG", quality=95)  # 256 px: draft decodes at 1/4 or 1/8
    fast, _ = decode_file(path, SIZE, draft=True)
    full, _ = decode_file(path, SIZE, draft=False)
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 6


def test_min_size_allows_upscaling_when_asked(files):
    array, _ = decode_file(files["too_small"], SIZE, min_size=8)
    assert array.shape == (3, SIZE, SIZE)


def test_image_extensions():
    assert is_image_file("a/b.JPEG") and is_image_file("x.png") and not is_image_file("x.txt")


def test_cache_keeps_converted_skips_bad_and_logs_both(files, tmp_path):
    samples = [(path, 0 if case in KEPT else 1) for case, path in files.items()]
    samples.append((files["rgb_jpeg"], 1))  # class "bad" keeps one good image
    cache = build_cache(samples, tmp_path / "cache", SIZE, classes=["good", "bad"], workers=0,
                        progress=False)
    assert len(cache) == len(KEPT) + 1
    assert cache.manifest["counts"] == {"0": len(KEPT), "1": 1}  # keyed by label
    reasons = {item["file"]: item["reason"] for item in cache.skipped}
    assert set(reasons) == {str(files[c]) for c in SKIPPED}
    for case, words in SKIPPED.items():
        assert words in reasons[str(files[case])]
    logged = json.loads((cache.path / "skipped.json").read_text())
    assert logged == cache.skipped
    notes = {item["file"]: item["note"] for item in cache.converted}
    assert notes == {str(files[c]): note for c, note in KEPT.items() if note}
    # kept images are in input order, with their labels
    expected = [decode_file(path, SIZE)[0] for case, path in files.items() if case in KEPT]
    assert np.array_equal(cache.images[: len(KEPT)], np.stack(expected))
    assert cache.labels.tolist() == [0] * len(KEPT) + [1]


def test_a_class_whose_every_file_is_bad_stops_the_build(files, tmp_path):
    samples = [(path, 0 if case in KEPT else 1) for case, path in files.items()]
    out = tmp_path / "cache"
    with pytest.raises(EmptyClassError) as info:
        build_cache(samples, out, SIZE, classes=["good", "bad"], workers=0, progress=False)
    message = str(info.value)
    assert "class bad" in message and "truncated" in message and "allow_empty_classes" in message
    assert list(info.value.empty) == ["bad"]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tree"]  # no temporary folder left behind


def test_allow_empty_classes_warns_loudly_and_records_them(files, tmp_path):
    samples = [(path, 0 if case in KEPT else 1) for case, path in files.items()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = build_cache(samples, tmp_path / "cache", SIZE, classes=["good", "bad"],
                            workers=0, progress=False, allow_empty_classes=True)
    assert any("bad" in str(w.message) and "skipped" in str(w.message) for w in caught)
    assert cache.manifest["empty_classes"] == ["bad"]
    assert cache.classes == ["good"] and (cache.path / COMPLETE_MARKER).is_file()


@pytest.mark.parametrize("orientation,turn", [
    (3, lambda a: np.rot90(a, 2)),                       # rotated 180°
    (6, lambda a: np.rot90(a, -1)),                      # stored 90° anticlockwise: turn clockwise
    (8, lambda a: np.rot90(a, 1)),
    (2, lambda a: a[:, ::-1]),                           # mirrored
])
def test_exif_orientation_is_applied_as_a_person_sees_the_photo(tmp_path, orientation, turn):
    # an asymmetric picture: a red block in the top-left corner of a wide image
    stored = np.zeros((40, 64, 3), dtype=np.uint8)
    stored[:10, :16] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "phone.png"  # lossless, so pixels compare exactly
    Image.fromarray(stored).save(path, exif=exif)
    array, note = decode_file(path, size=32, min_size=1, draft=False)
    upright = np.ascontiguousarray(turn(stored))  # the reference: numpy's rotation by hand
    want = np.asarray(Image.fromarray(upright).resize(
        (32, int(32 * upright.shape[0] / upright.shape[1])) if upright.shape[1] <= upright.shape[0]
        else (int(32 * upright.shape[1] / upright.shape[0]), 32), Image.BILINEAR))
    h, w = want.shape[:2]
    top, left = int(round((h - 32) / 2.0)), int(round((w - 32) / 2.0))
    want = want[top:top + 32, left:left + 32].transpose(2, 0, 1)
    assert np.array_equal(array, want)
    assert f"EXIF orientation {orientation}" in note


def test_an_upright_photo_is_untouched_and_unremarked(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 1
    noise_image(48, 48).save(tmp_path / "a.png", exif=exif)
    noise_image(48, 48).save(tmp_path / "b.png")
    a, note_a = decode_file(tmp_path / "a.png", size=48)
    b, note_b = decode_file(tmp_path / "b.png", size=48)
    assert np.array_equal(a, b) and "orientation" not in note_a + note_b


# --------------------------------------------------------------------------------------------
# deep images (issue #19, item 5): 16-bit and float pixels brought to 8 bits, not clipped.
# Before: 16-bit greyscale came out almost all white (every value above 255 clipped to 255) and
# float images all black (values in [0, 1] truncated to 0 or 1), logged only as "converted".

# a 32 × 32 gradient over the whole 16-bit range, with the ends and the rounding edges by hand
GRADIENT_16 = np.linspace(0, 65535, SIZE * SIZE).round().astype(np.uint16).reshape(SIZE, SIZE)
GRADIENT_16.flat[:6] = [0, 128, 129, 257, 385, 386]          # 128/257 < .5 < 129/257 ...
GRADIENT_16.flat[-3:] = [65406, 65407, 65535]                # ... 65406 → 254, 65407 → 255


def by_hand_16(values: np.ndarray) -> np.ndarray:
    """``round(v / 257)`` pixel by pixel in Python (257 is odd: no value lies on a half)."""
    return np.array([round(int(v) / 257) for v in values.flat], dtype=np.uint8).reshape(
        values.shape)


def test_the_16_bit_reference_itself():
    assert by_hand_16(GRADIENT_16).flat[:6].tolist() == [0, 0, 1, 1, 1, 2]
    assert by_hand_16(GRADIENT_16).flat[-3:].tolist() == [254, 255, 255]


@pytest.mark.parametrize("fmt,dtype", [("PNG", "<u2"), ("TIFF", "<u2"), ("TIFF", ">u2")],
                         ids=["png", "tiff", "tiff-big-endian"])
def test_16_bit_greyscale_is_divided_by_257(tmp_path, fmt, dtype):
    path = tmp_path / f"deep.{fmt.lower()}"
    Image.fromarray(GRADIENT_16.astype(dtype)).save(path, format=fmt)
    array, note = decode_file(path, SIZE)  # 32 × 32 in, 32 × 32 out: no resampling
    expected = by_hand_16(GRADIENT_16)
    for channel in array:
        assert np.array_equal(channel, expected)
    assert "converted from I;16" in note and "257" in note


def test_16_bit_netpbm_opened_as_32_bit_integers_is_divided_by_257(tmp_path):
    """PIL opens a 16-bit PGM as mode ``I`` (32-bit integers)."""
    path = tmp_path / "deep.pgm"
    path.write_bytes(f"P5 {SIZE} {SIZE} 65535\n".encode() + GRADIENT_16.astype(">u2").tobytes())
    array, note = decode_file(path, SIZE)
    assert np.array_equal(array[0], by_hand_16(GRADIENT_16)) and "converted from I " in note


def test_float_in_0_1_is_multiplied_by_255(tmp_path):
    values = (np.arange(SIZE * SIZE) % 256 / 255).astype(np.float32).reshape(SIZE, SIZE)
    values.flat[256:262] = [0.5, 0.25, 0.1, 1e-3, 0.999, 1.0]
    path = tmp_path / "float.tif"
    Image.fromarray(values).save(path)
    array, note = decode_file(path, SIZE)
    expected = np.array([k % 256 for k in range(SIZE * SIZE)], dtype=np.uint8).reshape(SIZE, SIZE)
    expected.flat[256:262] = [128, 64, 26, 0, 255, 255]  # 127.5 rounds up; 63.75; 25.5; 0.255
    for channel in array:
        assert np.array_equal(channel, expected)
    assert "converted from F" in note


@pytest.mark.parametrize("values,words", [
    (np.linspace(0, 4000, SIZE * SIZE), "values from 0 to 4000"),
    (np.linspace(-1, 1, SIZE * SIZE), "values from -1 to 1"),
    (np.full(SIZE * SIZE, np.nan), "NaN"),
], ids=["0-4000", "negative", "nan"])
def test_float_outside_0_1_is_refused_naming_its_range(tmp_path, values, words):
    path = tmp_path / "float.tif"
    Image.fromarray(values.astype(np.float32).reshape(SIZE, SIZE)).save(path)
    with pytest.raises(BadImageError) as info:
        decode_file(path, SIZE)
    assert words in info.value.reason and "[0, 1]" in info.value.reason
    assert str(path) in str(info.value)


def test_32_bit_integers_beyond_16_bits_are_refused_naming_their_range(tmp_path):
    path = tmp_path / "int32.tif"
    values = np.arange(SIZE * SIZE, dtype=np.int32).reshape(SIZE, SIZE) * 100
    Image.fromarray(values).save(path)
    with pytest.raises(BadImageError, match="values from 0 to 102300"):
        decode_file(path, SIZE)


def write_png_rgb16(path, rgb: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG, written by hand (PIL cannot write one): ``(H, W, 3)``."""
    h, w, _ = rgb.shape
    rows = b"".join(b"\0" + rgb[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2,
                                                                          0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_16_bit_rgb_is_within_one_level_of_v_over_257(tmp_path):
    """PIL reads 16-bit RGB itself, keeping each value's high byte (``v >> 8``): never more
    than one level from ``round(v / 257)`` and exact on multiples of 257."""
    rgb = np.stack([GRADIENT_16, GRADIENT_16[::-1], GRADIENT_16.T], axis=-1)
    path = tmp_path / "deep_rgb.png"
    write_png_rgb16(path, rgb)
    array, _ = decode_file(path, SIZE)
    expected = np.stack([by_hand_16(rgb[..., c]) for c in range(3)])
    assert np.abs(array.astype(int) - expected).max() <= 1
    exact = (rgb.transpose(2, 0, 1) % 257) == 0
    assert np.array_equal(array[exact], expected[exact])


def test_the_cache_stores_deep_images_right_and_skips_the_out_of_range(tmp_path):
    deep = tmp_path / "deep.png"
    Image.fromarray(GRADIENT_16).save(deep)
    good_float = tmp_path / "float.tif"
    Image.fromarray(np.full((SIZE, SIZE), 0.5, np.float32)).save(good_float)
    bad_float = tmp_path / "hdr.tif"
    Image.fromarray(np.full((SIZE, SIZE), 7.5, np.float32)).save(bad_float)
    cache = build_cache([(deep, 0), (good_float, 0), (bad_float, 0)], tmp_path / "cache", SIZE,
                        workers=0, progress=False)
    assert len(cache) == 2
    assert np.array_equal(cache.images[0][1], by_hand_16(GRADIENT_16))
    assert (np.asarray(cache.images[1]) == 128).all()
    assert cache.skipped == [{"file": str(bad_float), "reason": cache.skipped[0]["reason"]}]
    assert "values from 7.5 to 7.5" in cache.skipped[0]["reason"]
    assert "257" in {c["file"]: c["note"] for c in cache.converted}[str(deep)]
