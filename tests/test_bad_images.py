"""Robust decoding: each bad-input case of the datasets issue, one file each, made here.

Kept (converted to RGB): CMYK JPEG, greyscale JPEG, palette PNG, RGBA PNG, a PNG named .JPEG.
Skipped with a reason: truncated JPEG, zero-byte file, text file named .jpg, image below the
size, a directory named like an image, a broken symlink (tests run as root, so chmod 000 would
not stop a read; these two are the unreadable cases).
"""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
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
    from PIL import ImageFile

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
    assert cache.manifest["counts"] == {"good": len(KEPT), "bad": 1}
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
    from course_lib.datasets.images import decode_file

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
    from course_lib.datasets.images import decode_file

    exif = Image.Exif()
    exif[0x0112] = 1
    noise_image(48, 48).save(tmp_path / "a.png", exif=exif)
    noise_image(48, 48).save(tmp_path / "b.png")
    a, note_a = decode_file(tmp_path / "a.png", size=48)
    b, note_b = decode_file(tmp_path / "b.png", size=48)
    assert np.array_equal(a, b) and "orientation" not in note_a + note_b
