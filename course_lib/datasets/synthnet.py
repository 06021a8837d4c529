"""SynthNet: a procedurally generated, ImageNet-like benchmark made in seconds on a CPU.

Why it exists: the course must train and score something meaningful with no network and no GPU.
SynthNet keeps what makes ImageNet hard — fine-grained classes inside a hierarchy, and the
diversity factors the ImageNet papers worried about — and makes each factor a knob.

**Classes.** A few *super-categories* (shape families: fish, flower, house, star, wheel), each with
fine-grained children that share the family's shape and differ only in proportions, surface
pattern and a slight shift of colour — like dog breeds under "dog". With ``num_classes=20`` there
are 5 families × 4 children. The tree is :attr:`SynthNetSplit.hierarchy` (root ``synthnet``).

**Knobs** (:class:`Knobs`), each a strength in [0, 1] or a range ``(lo, hi)`` from which every
image draws its own strength:

=============  ==================================================================================
viewpoint      in-plane rotation (up to ±180°), shear (up to ±0.4) and perspective (tilt)
scale          object size, up to ×1.6 / ÷1.6 around a radius of a quarter of the image
position       object centre, up to ±45 % of the half-width off centre
lighting       brightness and contrast (up to ±45 %), colour cast (±25 % per channel), a light
               gradient across the image
clutter        distractor shapes behind the object (up to 8) and low-frequency background texture
occlusion      probability that a random shape covers part of the object, and its size
appearance     within-class variation of hue, saturation, pattern frequency and proportions
=============  ==================================================================================

Every random draw is made with the same generator calls whatever the knob values are and then
scaled by the knob, so the same seed with a knob turned up shows the *same* image, more varied
(that is what :func:`plot_knob_grid` draws).

**Determinism.** The same arguments give the same pixels (bit for bit, on the same platform).
Splits use disjoint seed streams: ``SeedSequence([seed, split_id])`` with train 0, val 1, test 2.

Rendering is vectorised numpy over a few dozen images at a time (signed-distance shapes,
anti-aliased edges), threads over chunks of images; a laptop-profile dataset (20 classes ×
(1,000 + 50 + 50) images at 64 px, 22,000 in all) takes a few seconds on 2 cores
(``python -m course_lib bench synthnet`` times it against rendering the same images one at a
time). Image sides run from :data:`MIN_SIZE` to :data:`MAX_SIZE` px; any other size is a
``ValueError``, never a silent clamp.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np

from ..errors import CourseValueError
from ..hierarchy import Hierarchy

SPLITS = {"train": 0, "val": 1, "test": 2}
FAMILIES = ("fish", "flower", "house", "star", "wheel")
PATTERNS = ("plain", "stripes", "dots", "checker")
MIN_SIZE, MAX_SIZE = 32, 256
MAX_CLASSES = 100
# A chunk (the work of one thread, with one stream of sensor noise) holds up to 128 images or
# CHUNK_PIXELS pixels; the renderer takes it RENDER_PIXELS at a time (32 images at 64 px: its
# temporaries, ~130 bytes a pixel, stay near 17 MB a thread and in the CPU's cache).
CHUNK_PIXELS = 128 * 64 * 64
RENDER_PIXELS = 32 * 64 * 64
NOISE_STD = 0.012  # sensor noise, on the 0-1 scale
MAX_CLUTTER = 8

# Family base hue (degrees); children shift it by a few degrees only.
_FAMILY_HUE = {"fish": 20.0, "flower": 300.0, "house": 200.0, "star": 50.0, "wheel": 120.0}
# What the child's proportion level (0..1) changes, per family (for the class names).
_PROPORTION_WORDS = {
    "fish": ("slender", "round"),
    "flower": ("few-petalled", "many-petalled"),
    "house": ("flat-roofed", "steep-roofed"),
    "star": ("blunt", "sharp"),
    "wheel": ("thin-rimmed", "thick-rimmed"),
}

KnobValue = float | tuple[float, float]


@dataclass(frozen=True)
class Knobs:
    """Strength of each diversity factor: a float in [0, 1], or a range ``(lo, hi)`` inside
    [0, 1] from which each image draws its own strength uniformly. See the module docstring."""

    viewpoint: KnobValue = 0.5
    scale: KnobValue = 0.5
    position: KnobValue = 0.5
    lighting: KnobValue = 0.5
    clutter: KnobValue = 0.5
    occlusion: KnobValue = 0.3
    appearance: KnobValue = 0.5

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            lo, hi = _as_range(value)
            if not (0.0 <= lo <= hi <= 1.0):
                raise CourseValueError(
                    f"knob {field.name}={value!r}: expected a number in [0, 1] or a range "
                    f"(lo, hi) with 0 <= lo <= hi <= 1"
                )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def zero(cls) -> Knobs:
        """Every factor off: upright, centred, same size, even light, plain background."""
        return cls(**{name: 0.0 for name in cls.names()})

    def replace(self, **changes) -> Knobs:
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise TypeError(f"unknown SynthNet knob(s) {unknown}; valid: {list(self.names())}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.names()}


def _as_range(value: KnobValue) -> tuple[float, float]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise CourseValueError(f"a knob range must be (lo, hi), got {value!r}")
        return float(value[0]), float(value[1])
    return float(value), float(value)


@dataclass(frozen=True)
class ClassSpec:
    """One fine-grained class: its family and what sets it apart from its siblings."""

    index: int
    family: str
    child: int
    proportion: float  # 0..1, the family's shape parameter (see _PROPORTION_WORDS)
    pattern: str  # one of PATTERNS
    hue: float  # degrees

    @property
    def wnid(self) -> str:
        """The leaf's id in the hierarchy, e.g. ``fish.2``."""
        return f"{self.family}.{self.child}"

    @property
    def name(self) -> str:
        low, high = _PROPORTION_WORDS[self.family]
        shape = low if self.proportion < 0.5 else high
        degree = "very " if self.proportion in (0.0, 1.0) else ""
        return f"{degree}{shape} {self.pattern} {self.family}"


def class_specs(num_classes: int) -> list[ClassSpec]:
    """The classes of a SynthNet with ``num_classes`` classes, family-major order.

    ``min(5, max(2, ceil(sqrt(num_classes))))`` families share the classes as evenly as
    possible; the children of a family have evenly spaced proportions, alternating patterns and
    hues a few degrees apart.
    """
    if not 2 <= num_classes <= MAX_CLASSES:
        raise CourseValueError(f"num_classes={num_classes}: SynthNet has 2 to {MAX_CLASSES} classes")
    num_super = min(len(FAMILIES), max(2, math.ceil(math.sqrt(num_classes))))
    specs = []
    for f in range(num_super):
        family = FAMILIES[f]
        n = num_classes // num_super + (f < num_classes % num_super)
        for j in range(n):
            proportion = j / (n - 1) if n > 1 else 0.5
            pattern = PATTERNS[(j + f) % len(PATTERNS)]
            hue = (_FAMILY_HUE[family] + 7.0 * (j - (n - 1) / 2)) % 360.0
            specs.append(ClassSpec(len(specs), family, j, proportion, pattern, hue))
    return specs


def build_hierarchy(specs: Sequence[ClassSpec]):
    """The tree root → family → class, as a :class:`course_lib.hierarchy.Hierarchy`."""
    parents: dict[str, list[str]] = {"synthnet": []}
    names = {"synthnet": "SynthNet object"}
    for spec in specs:
        parents.setdefault(spec.family, ["synthnet"])
        names[spec.family] = spec.family
        parents[spec.wnid] = [spec.family]
        names[spec.wnid] = spec.name
    leaves = [spec.wnid for spec in specs]
    return Hierarchy(parents, leaves, names)


@dataclass
class SynthNetSplit:
    """One split of SynthNet.

    ``images: (N, 3, S, S) uint8``, ``labels: (N,) int64`` in ``0..C-1`` (family-major class
    order), ``class_names: list[str]`` (C readable names), ``wnids: list[str]`` (C leaf ids such
    as ``fish.2``), ``hierarchy`` (root ``synthnet`` → families → leaves ``wnids``), ``knobs``.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    wnids: list[str]
    hierarchy: object
    knobs: Knobs
    split: str
    seed: int
    classes: list[ClassSpec]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def make_synthnet(
    split: str = "train",
    num_classes: int = 20,
    per_class: int = 300,
    image_size: int = 64,
    seed: int = 0,
    workers: int = 2,
    knobs: Knobs | Mapping | None = None,
    **knob_values: KnobValue,
) -> SynthNetSplit:
    """Render ``per_class`` images of each of ``num_classes`` classes at ``image_size`` px.

    Knobs come as a :class:`Knobs`, a mapping, and/or keywords (``viewpoint=0.8``), keywords
    winning. ``workers`` threads render chunks in parallel; the pixels do not depend on it.
    Images are ordered by class (``labels`` is sorted).
    """
    if split not in SPLITS:
        raise CourseValueError(f"split={split!r}: expected one of {list(SPLITS)}")
    check_image_size(image_size)
    if per_class < 1:
        raise CourseValueError(f"per_class={per_class}: need at least one image per class")
    knobs = _resolve_knobs(knobs, knob_values)
    specs = class_specs(num_classes)
    labels = np.repeat(np.arange(num_classes, dtype=np.int64), per_class)
    images = render(labels, specs, image_size, seed=(seed, SPLITS[split]), knobs=knobs,
                    workers=workers)
    return SynthNetSplit(
        images=images,
        labels=labels,
        class_names=[s.name for s in specs],
        wnids=[s.wnid for s in specs],
        hierarchy=build_hierarchy(specs),
        knobs=knobs,
        split=split,
        seed=seed,
        classes=specs,
    )


def check_image_size(image_size) -> int:
    """``image_size`` as an int if SynthNet can render it, else a ``ValueError`` that names
    the value and the allowed range :data:`MIN_SIZE`..:data:`MAX_SIZE`."""
    if (isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer))
            or not MIN_SIZE <= image_size <= MAX_SIZE):
        raise CourseValueError(
            f"image_size={image_size!r}: SynthNet renders square images of MIN_SIZE..MAX_SIZE "
            f"= {MIN_SIZE}..{MAX_SIZE} px (an integer); choose a size in that range")
    return int(image_size)


def _resolve_knobs(knobs, knob_values) -> Knobs:
    if knobs is None:
        knobs = Knobs()
    elif isinstance(knobs, Mapping):
        knobs = Knobs().replace(**knobs)
    elif not isinstance(knobs, Knobs):
        raise TypeError(f"knobs must be a Knobs or a mapping, got {type(knobs).__name__}")
    return knobs.replace(**knob_values) if knob_values else knobs


# --------------------------------------------------------------------------------------------
# Per-image parameters: every draw made unconditionally, then scaled by the knobs.


def _strengths(knobs: Knobs, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for name in Knobs.names():
        lo, hi = _as_range(getattr(knobs, name))
        out[name] = (lo + (hi - lo) * rng.random(n)).astype(np.float32)
    return out


def draw_params(labels: np.ndarray, specs: Sequence[ClassSpec], image_size: int,
                seed: int | Sequence[int] = 0,
                knobs: Knobs | None = None) -> tuple[dict[str, np.ndarray], list[int]]:
    """Every random draw of :func:`render` but the sensor noise, checked: ``(params,
    entropy)``, ``params`` holding one row per entry of ``labels: (N,) int`` and ``entropy``
    the seed as a list of ints (what :func:`chunk_noise` takes)."""
    check_image_size(image_size)
    knobs = Knobs() if knobs is None else knobs
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 1:
        raise CourseValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(specs)):
        raise CourseValueError(f"labels must be in 0..{len(specs) - 1}, got {labels.min()}..{labels.max()}")
    entropy = [int(s) for s in (seed if isinstance(seed, Sequence) else (seed,))]
    return _draw_params(labels, specs, knobs, np.random.default_rng(entropy)), entropy


def _draw_params(labels, specs, knobs, rng) -> dict[str, np.ndarray]:
    n = len(labels)
    k = _strengths(knobs, n, rng)

    def sym(*shape):  # uniform in [-1, 1]
        return rng.uniform(-1.0, 1.0, size=(n, *shape)).astype(np.float32)

    def unit(*shape):  # uniform in [0, 1]
        return rng.random(size=(n, *shape)).astype(np.float32)

    family_ids = {f: i for i, f in enumerate(FAMILIES)}
    fam = np.array([family_ids[s.family] for s in specs])[labels]
    pattern_ids = {p: i for i, p in enumerate(PATTERNS)}
    p = {
        "family": fam,
        "pattern": np.array([pattern_ids[s.pattern] for s in specs])[labels],
        "proportion": np.array([s.proportion for s in specs], np.float32)[labels]
        + 0.12 * k["appearance"] * sym(),
        "hue": np.array([s.hue for s in specs], np.float32)[labels] + 40.0 * k["appearance"] * sym(),
        "sat": 0.7 + 0.25 * k["appearance"] * sym(),
        "val": 0.85 - 0.2 * k["appearance"] * unit(),
        "pattern_freq": 1.0 + 0.35 * k["appearance"] * sym(),
        "pattern_phase": unit(2),
        "angle": math.pi * k["viewpoint"] * sym(),
        "shear": 0.4 * k["viewpoint"] * sym(),
        "tilt": 0.35 * k["viewpoint"][:, None] * sym(2),
        "radius": 0.5 * np.exp(0.47 * k["scale"] * sym()),
        "center": 0.45 * k["position"][:, None] * sym(2),
        "brightness": 1.0 + 0.45 * k["lighting"] * sym(),
        "contrast": 1.0 + 0.45 * k["lighting"] * sym(),
        "cast": 1.0 + 0.25 * k["lighting"][:, None] * sym(3),
        "light_dir": 2 * math.pi * unit(),
        "light_amount": 0.35 * k["lighting"] * unit(),
        "bg_hsv": np.stack([360 * unit(), 0.1 + 0.4 * unit(), 0.3 + 0.5 * unit()], axis=1),
        "bg_wave": np.concatenate([sym(4) * 6.0, 2 * math.pi * unit(2)], axis=1),
        "bg_amount": 0.04 + 0.16 * k["clutter"],
        "clutter_on": unit(MAX_CLUTTER) < k["clutter"][:, None],
        "clutter_pos": sym(MAX_CLUTTER, 2),
        "clutter_size": 0.08 + 0.27 * unit(MAX_CLUTTER, 2),
        "clutter_angle": math.pi * unit(MAX_CLUTTER),
        "clutter_bar": unit(MAX_CLUTTER) < 0.4,
        "clutter_hsv": np.stack([360 * unit(MAX_CLUTTER), unit(MAX_CLUTTER),
                                 0.2 + 0.8 * unit(MAX_CLUTTER)], axis=2),
        "occluded": unit() < k["occlusion"],
        "occ_dir": 2 * math.pi * unit(),
        "occ_size": 0.35 + 0.45 * k["occlusion"] * unit(),
        "occ_hsv": np.stack([360 * unit(), unit(), 0.2 + 0.8 * unit()], axis=1),
        "object_shade": sym(2),
    }
    # keep the whole (nominal) object inside the frame
    limit = np.maximum(0.0, 0.95 - p["radius"])[:, None]
    p["center"] = np.clip(p["center"], -limit, limit)
    return p


# --------------------------------------------------------------------------------------------
# Rendering


def _hsv_to_rgb(h, s, v) -> np.ndarray:
    """Vectorised HSV → RGB: ``h`` in degrees, ``s``, ``v`` in [0, 1]; returns ``(..., 3)``."""
    h = np.mod(h, 360.0) / 60.0
    s = np.clip(s, 0, 1)
    v = np.clip(v, 0, 1)

    def channel(n):
        kk = np.mod(n + h, 6.0)
        return v - v * s * np.clip(np.minimum(kk, 4.0 - kk), 0.0, 1.0)

    return np.stack([channel(5.0), channel(3.0), channel(1.0)], axis=-1).astype(np.float32)


def _coverage(sdf, pixel):
    """Anti-aliased coverage in [0, 1] of a shape given its signed distance (inside < 0)."""
    return np.clip(0.5 - sdf / pixel, 0.0, 1.0)


def _ellipse_sdf(u, v, a, b):
    """Approximate signed distance to an axis-aligned ellipse with semi-axes ``a``, ``b``."""
    return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * np.minimum(a, b)


def _family_shape(family: str, u, v, t):
    """Signed distance of the body and of its part (eye, centre, windows, hub), in object
    coordinates where the object fits the unit disc; ``t`` is the proportion, ``(n, 1, 1)``."""
    if family == "fish":
        b = 0.25 + 0.3 * t
        body = _ellipse_sdf(u + 0.15, v, 0.65, b)
        x = u - 0.35  # tail: a wedge opening to the right
        tail = np.maximum.reduce([np.abs(v) - 0.15 - 0.9 * x, x - 0.45, -x])
        shape = np.minimum(body, tail)
        part = np.sqrt((u + 0.5) ** 2 + (v + 0.35 * b) ** 2) - 0.09
    elif family == "flower":
        r = np.sqrt(u * u + v * v)
        theta = np.arctan2(v, u)
        petals = np.round(5 + 3 * t)  # 5 to 8 petals
        edge = 0.55 + 0.4 * np.abs(np.cos(petals * theta / 2))
        shape = (r - edge) * 0.7
        part = r - 0.28
    elif family == "house":
        w = 0.55 + 0.1 * t
        roof = 0.2 + 0.5 * t
        walls = np.maximum(np.abs(u) - w, np.abs(v - 0.3) - 0.5)
        top = -0.2 - roof  # apex; the roof is a triangle standing on the walls (v points down)
        half_width = (w + 0.12) * (v - top) / roof
        roof_sdf = np.maximum.reduce([v + 0.18, np.abs(u) - half_width, top - v])
        shape = np.minimum(walls, roof_sdf * 0.8)
        wu = np.abs(np.abs(u) - w / 2) - 0.1  # two windows
        part = np.maximum(wu, np.abs(v - 0.2) - 0.1)
    elif family == "star":
        r = np.sqrt(u * u + v * v)
        theta = np.arctan2(v, u)
        points = 5.0
        inner = 0.65 - 0.35 * t
        tri = np.abs(np.mod(theta * points / (2 * math.pi), 1.0) - 0.5) * 2  # 1 at tips
        shape = (r - (inner + (0.95 - inner) * tri)) * 0.6
        part = r - 0.15
    elif family == "wheel":
        r = np.sqrt(u * u + v * v)
        theta = np.arctan2(v, u)
        rim = 0.08 + 0.17 * t
        ring = np.abs(r - (0.92 - rim)) - rim
        spokes = 6.0
        phase = np.mod(theta * spokes / (2 * math.pi), 1.0) - 0.5
        spoke = np.maximum(np.abs(phase) * 2 * math.pi / spokes * r - 0.06, r - 0.9)
        shape = np.minimum(ring, spoke)
        part = r - 0.2
    else:  # pragma: no cover - FAMILIES is closed
        raise CourseValueError(family)
    return shape, part


def _pattern(pattern_id: int, u, v, freq, phase):
    """Pattern mask in [0, 1] (1 = second colour) in object coordinates."""
    f = 3.0 * math.pi * freq
    if pattern_id == 1:  # stripes
        return (np.sin(f * (u + phase[:, 0, None, None])) > 0.3).astype(np.float32)
    if pattern_id == 2:  # dots
        a = np.mod(u * freq * 3 + phase[:, 0, None, None], 1.0) - 0.5
        b = np.mod(v * freq * 3 + phase[:, 1, None, None], 1.0) - 0.5
        return (a * a + b * b < 0.09).astype(np.float32)
    if pattern_id == 3:  # checker
        s = np.sin(f * (u + phase[:, 0, None, None])) * np.sin(f * (v + phase[:, 1, None, None]))
        return (s > 0).astype(np.float32)
    return np.zeros_like(u)


def _blend(img, alpha, color):
    """``img (n, 3, S, S) += alpha (n, S, S) * (color (n, 3) - img)`` in place."""
    img += alpha[:, None] * (color[:, :, None, None] - img)


def chunk_size(image_size: int) -> int:
    """Images per chunk: one thread's unit of work, sharing one stream of sensor noise (so it
    depends on the image size only, never on the thread count)."""
    return max(4, min(128, CHUNK_PIXELS // (image_size * image_size)))


def render_size(image_size: int) -> int:
    """Images rendered together inside a chunk (bounds the renderer's temporaries; the pixels
    do not depend on it)."""
    return max(1, min(chunk_size(image_size), RENDER_PIXELS // (image_size * image_size)))


def noise_stream(entropy: Sequence[int], index: int) -> np.random.Generator:
    """The generator of chunk ``index``'s sensor noise; its images draw from it in order."""
    return np.random.default_rng(list(entropy) + [1 + index])


def draw_noise(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """The sensor noise of the next ``n`` images of a chunk: ``(n, 3, size, size) float32``."""
    return rng.normal(0.0, NOISE_STD, size=(n, 3, size, size)).astype(np.float32)


def chunk_noise(entropy: Sequence[int], index: int, n: int, size: int) -> np.ndarray:
    """The sensor noise of all ``n`` images of chunk ``index``: ``(n, 3, size, size) float32``."""
    return draw_noise(noise_stream(entropy, index), n, size)


def render_chunk(p: dict, size: int, noise: np.ndarray) -> np.ndarray:
    """The images of parameters ``p`` (arrays of ``n`` rows from :func:`draw_params`) with
    ``noise: (n, 3, size, size) float32`` added → ``(n, 3, size, size) uint8``.

    Painted in layers, each on the ``(n, 3, size, size) float32`` canvas: background and
    clutter, the object, the occluder, then lighting and sensor noise."""
    grid = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2.0 - 1.0
    x, y, pixel = grid[None, None, :], grid[None, :, None], 2.0 / size
    img = _paint_background(p, size, x, y, pixel)
    _paint_objects(p, img, x, y, pixel)
    _paint_occluders(p, img, x, y, pixel)
    img = _light(p, img, x, y) + noise
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _column(p: dict, name: str) -> np.ndarray:
    """``p[name]`` as ``(n, 1, 1)``, to broadcast over an image."""
    return p[name].reshape(len(p["family"]), 1, 1)


def _paint_background(p: dict, size: int, x, y, pixel: float) -> np.ndarray:
    """A colour, a low-frequency wave texture and clutter shapes: ``(n, 3, size, size)``."""
    n = len(p["family"])
    bg = _hsv_to_rgb(*p["bg_hsv"].T)
    img = np.empty((n, 3, size, size), np.float32)
    img[:] = bg[:, :, None, None]
    w = p["bg_wave"]
    wave = np.sin(w[:, 0, None, None] * x + w[:, 1, None, None] * y + w[:, 4, None, None])
    wave += np.sin(w[:, 2, None, None] * x + w[:, 3, None, None] * y + w[:, 5, None, None])
    img += (_column(p, "bg_amount") * 0.5 * wave)[:, None]
    clutter_rgb = _hsv_to_rgb(*np.moveaxis(p["clutter_hsv"], 2, 0))
    for k in range(MAX_CLUTTER):
        on = p["clutter_on"][:, k]
        if not on.any():
            continue
        idx = np.flatnonzero(on)
        cx = p["clutter_pos"][idx, k, 0, None, None]
        cy = p["clutter_pos"][idx, k, 1, None, None]
        ca = np.cos(p["clutter_angle"][idx, k])[:, None, None]
        sa = np.sin(p["clutter_angle"][idx, k])[:, None, None]
        du, dv = x - cx, y - cy
        cu, cv = ca * du + sa * dv, ca * dv - sa * du
        a = p["clutter_size"][idx, k, 0, None, None]
        b = a * (0.25 + 0.75 * p["clutter_size"][idx, k, 1, None, None] / 0.35)
        bar = p["clutter_bar"][idx, k, None, None]
        sdf = np.where(bar, np.maximum(np.abs(cu) - a, np.abs(cv) - 0.2 * b),
                       _ellipse_sdf(cu, cv, a, b))
        sub = img[idx]
        _blend(sub, _coverage(sdf, pixel), clutter_rgb[idx, k])
        img[idx] = sub
    return img


def _paint_objects(p: dict, img: np.ndarray, x, y, pixel: float) -> None:
    """The object of each image, in place: its family's shape, pattern, shading and part,
    through the inverse of translate ∘ tilt ∘ rotate ∘ shear ∘ scale."""
    dx = x - p["center"][:, 0, None, None]
    dy = y - p["center"][:, 1, None, None]
    denom = np.maximum(1.0 + p["tilt"][:, 0, None, None] * dx + p["tilt"][:, 1, None, None] * dy,
                       0.3)
    dx, dy = dx / denom, dy / denom
    cos, sin = np.cos(_column(p, "angle")), np.sin(_column(p, "angle"))
    u = cos * dx + sin * dy
    v = cos * dy - sin * dx
    u = u - _column(p, "shear") * v
    radius = _column(p, "radius")
    u, v = u / radius, v / radius
    obj_pixel = pixel / radius
    main = _hsv_to_rgb(p["hue"], p["sat"], p["val"])
    second = _hsv_to_rgb(p["hue"] + 25.0, p["sat"] * 0.6, p["val"] * 0.55)
    part_rgb = _hsv_to_rgb(p["hue"] + 180.0, p["sat"] * 0.5, p["val"] * 0.35)
    for fid, family in enumerate(FAMILIES):
        idx = np.flatnonzero(p["family"] == fid)
        if idx.size == 0:
            continue
        fu, fv = u[idx], v[idx]
        shape, part = _family_shape(family, fu, fv, p["proportion"][idx, None, None])
        alpha = _coverage(shape, obj_pixel[idx])
        texture = np.zeros_like(fu)
        for pid in range(1, len(PATTERNS)):
            sel = np.flatnonzero(p["pattern"][idx] == pid)
            if sel.size:
                texture[sel] = _pattern(pid, fu[sel], fv[sel],
                                        p["pattern_freq"][idx][sel, None, None],
                                        p["pattern_phase"][idx][sel])
        sub = img[idx]
        surface = main[idx, :, None, None] + texture[:, None] * (
            second[idx, :, None, None] - main[idx, :, None, None])
        shade = 1.0 + 0.25 * (p["object_shade"][idx, 0, None, None] * fu
                              + p["object_shade"][idx, 1, None, None] * fv)
        surface = surface * shade[:, None]
        sub += alpha[:, None] * (surface - sub)
        _blend(sub, _coverage(part, obj_pixel[idx]) * alpha, part_rgb[idx])
        img[idx] = sub


def _paint_occluders(p: dict, img: np.ndarray, x, y, pixel: float) -> None:
    """Occlusion, in place: a disc over the object's edge where ``p["occluded"]``."""
    occ = np.flatnonzero(p["occluded"])
    if occ.size:
        r = p["radius"][occ]
        ox = p["center"][occ, 0] + 0.8 * r * np.cos(p["occ_dir"][occ])
        oy = p["center"][occ, 1] + 0.8 * r * np.sin(p["occ_dir"][occ])
        sdf = np.sqrt((x - ox[:, None, None]) ** 2 + (y - oy[:, None, None]) ** 2) - (
            p["occ_size"][occ] * r)[:, None, None]
        sub = img[occ]
        _blend(sub, _coverage(sdf, pixel), _hsv_to_rgb(*p["occ_hsv"][occ].T))
        img[occ] = sub


def _light(p: dict, img: np.ndarray, x, y) -> np.ndarray:
    """Lighting: a gradient, brightness, contrast around the image mean, a colour cast."""
    grad = np.cos(_column(p, "light_dir")) * x + np.sin(_column(p, "light_dir")) * y
    img *= (1.0 + _column(p, "light_amount") * grad)[:, None]
    mean = img.mean(axis=(1, 2, 3), keepdims=True)
    img = (img - mean) * p["contrast"][:, None, None, None] + mean
    img *= (p["brightness"][:, None] * p["cast"])[:, :, None, None]
    return img


def render(labels: np.ndarray, specs: Sequence[ClassSpec], image_size: int,
           seed: int | Sequence[int] = 0, knobs: Knobs | None = None,
           workers: int = 2) -> np.ndarray:
    """Render one image per entry of ``labels: (N,) int`` → ``(N, 3, S, S) uint8``.

    ``seed`` (an int or a tuple of ints) fixes every pixel; the same labels, specs, size, seed
    and knobs give the same array whatever ``workers`` is.
    """
    params, entropy = draw_params(labels, specs, image_size, seed, knobs)
    n = len(params["family"])
    out = np.empty((n, 3, image_size, image_size), np.uint8)
    step, together = chunk_size(image_size), render_size(image_size)
    starts = range(0, n, step)

    def work(start):
        stop = min(start + step, n)
        noise = noise_stream(entropy, start // step)
        for lo in range(start, stop, together):
            hi = min(lo + together, stop)
            part = {key: value[lo:hi] for key, value in params.items()}
            out[lo:hi] = render_chunk(part, image_size, draw_noise(noise, hi - lo, image_size))

    if workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(work, starts))
    else:
        for start in starts:
            work(start)
    return out


def plot_knob_grid(knob_names: Sequence[str] | None = None,
                   levels: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
                   label: int = 0, num_classes: int = 20, image_size: int = 64, seed: int = 0,
                   examples: int = 1):
    """A grid of examples: one row per knob (all other knobs at 0), one column per level.

    Each row shows the same draw (``seed``) of class ``label`` with only that knob turned up,
    ``examples`` images side by side per cell. Returns the matplotlib figure.
    """
    knob_names = list(Knobs.names() if knob_names is None else knob_names)
    unknown = sorted(set(knob_names) - set(Knobs.names()))
    if unknown:
        raise CourseValueError(f"unknown knob(s) {unknown}; valid: {list(Knobs.names())}")
    specs = class_specs(num_classes)
    labels = np.full(examples, label, dtype=np.int64)
    rows = []
    for name in knob_names:
        cells = []
        for level in levels:
            imgs = render(labels, specs, image_size, seed=seed,
                          knobs=Knobs.zero().replace(**{name: float(level)}), workers=1)
            cells.append(np.concatenate(list(imgs.transpose(0, 2, 3, 1)), axis=1))
        rows.append(cells)
    fig, axes = plt.subplots(len(knob_names), len(levels), squeeze=False,
                             figsize=(1.4 * examples * len(levels), 1.5 * len(knob_names)))
    for i, name in enumerate(knob_names):
        for j, level in enumerate(levels):
            a = axes[i][j]
            a.imshow(rows[i][j])
            a.set_xticks([])
            a.set_yticks([])
            if i == 0:
                a.set_title(f"{level:g}")
            if j == 0:
                a.set_ylabel(name)
    fig.suptitle(f"SynthNet: {specs[label].name}, each knob turned up alone")
    fig.tight_layout()
    return fig
