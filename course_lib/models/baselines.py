"""The pipeline AlexNet beat: hand-made features and a linear classifier (pre-2012 style).

The ILSVRC-2010 and -2011 winners and the 2012 runner-up computed fixed, hand-designed
descriptors (SIFT and colour statistics, pooled into sparse codes or Fisher vectors) and trained
linear SVMs on them (../shared/FACTS.md §4.4: SIFT + FVs 26.2% top-5 test error in 2012 against
AlexNet's 15.3%). This module keeps that shape with well-kept libraries:

* :func:`hog_features`: histograms of oriented gradients (scikit-image), the dense gradient
  histograms SIFT is built from, on a grid of cells with block normalisation;
* :func:`color_histograms`: joint hue-saturation-value histograms (scikit-image's colour
  conversion, NumPy binning), globally and on a 2×2 grid of quadrants;
* :class:`HandcraftedBaseline`: features → standardisation → a linear classifier from
  scikit-learn (multinomial logistic regression by default, or a one-vs-rest linear SVM),
  giving per-class scores ``(N, C)`` that score top-1/top-5 exactly like a CNN's logits.

Nothing is learned in the features; only the linear classifier is trained. That is the whole
point of the comparison with a CNN, which learns its features too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import CourseValueError

FEATURES = ("hog", "color")
CHUNK = 128  # images whose features are computed together (bounds the working memory)
HOG_ORIENTATIONS, HOG_BLOCK, COLOR_GRID = 9, 2, 2
CLASSIFIERS = ("linear_svm", "logistic")


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != 3 or images.dtype != np.uint8:
        raise CourseValueError(
            "images must be a (N, 3, H, W) uint8 array, got "
            f"shape {images.shape} dtype {images.dtype}"
        )
    return images


def _hog_one(image: np.ndarray, cell: int, orientations: int, block: int) -> np.ndarray:
    """The HOG vector of one ``(3, H, W) uint8`` image: ``(D,) float64`` (scikit-image's)."""
    from skimage.feature import hog  # heavy: loaded when the baseline runs, not on import

    return hog(
        image.transpose(1, 2, 0),
        orientations=orientations,
        pixels_per_cell=(cell, cell),
        cells_per_block=(block, block),
        block_norm="L2-Hys",
        channel_axis=-1,
        feature_vector=True,
    )


def _hog_into(images: np.ndarray, out: np.ndarray, cells: int, orientations: int,
              block: int) -> None:
    """Write the HOG vector of each of ``images: (n, 3, H, W) uint8`` into the row of
    ``out: (n, D) float32`` (one image at a time: no list of float64 vectors)."""
    cell = max(2, min(images.shape[2:]) // cells)
    for row, image in zip(out, images):
        row[:] = _hog_one(image, cell, orientations, block)


def hog_features(
    images: np.ndarray, *, cells: int = 8, orientations: int = HOG_ORIENTATIONS,
    block: int = HOG_BLOCK
) -> np.ndarray:
    """HOG descriptors of ``images: (N, 3, H, W) uint8`` → ``(N, D) float32``.

    Each image is split into ``cells × cells`` cells (cell side ``H // cells`` px), each cell
    gets an ``orientations``-bin histogram of gradient directions (unsigned, weighted by
    magnitude; the colour channel with the strongest gradient at each pixel is used), and
    overlapping ``block × block`` groups of cells are L2-Hys normalised (Dalal & Triggs 2005).
    """
    images = _check_images(images)
    cell = max(2, min(images.shape[2:]) // cells)
    if not len(images):
        return np.zeros((0, 0), dtype=np.float32)
    first = _hog_one(images[0], cell, orientations, block)
    out = np.empty((len(images), first.size), dtype=np.float32)
    out[0] = first
    _hog_into(images[1:], out[1:], cells, orientations, block)
    return out


ColorHistogram = Callable[[np.ndarray, Sequence[int]], np.ndarray]
"""``(images (n, 3, h, w) uint8, bins) -> (n, prod(bins))``: one normalised joint HSV histogram
per image (:func:`joint_color_histogram`, or a learner's own, notebook 10)."""


def to_hsv(images: np.ndarray) -> np.ndarray:
    """``images: (n, 3, h, w) uint8`` RGB → ``(n, h, w, 3) float64`` hue, saturation and value,
    each in [0, 1] (scikit-image's ``rgb2hsv``)."""
    from skimage.color import rgb2hsv  # heavy: loaded when the baseline runs, not on import

    return rgb2hsv(np.asarray(images).transpose(0, 2, 3, 1))


def joint_color_histogram(images: np.ndarray, bins: Sequence[int] = (8, 3, 3)) -> np.ndarray:
    """The joint hue-saturation-value histogram of each of ``images: (n, 3, h, w) uint8`` →
    ``(n, prod(bins)) float64``, each row summing to 1.

    Each HSV channel (scikit-image's ``rgb2hsv``, values in [0, 1]) is cut into ``bins[c]``
    equal bins, 1.0 in the last; a pixel's joint bin is ``(hue_bin · bins[1] + sat_bin) ·
    bins[2] + value_bin``.
    """
    images = np.asarray(images)
    n, _, h, w = images.shape
    hsv = to_hsv(images)  # (n, h, w, 3) float64 in [0, 1]
    index = np.zeros((n, h, w), dtype=np.int64)
    for channel, count in enumerate(bins):
        level = np.minimum((hsv[..., channel] * count).astype(np.int64), count - 1)
        index = index * count + level
    del hsv
    total = int(np.prod(bins))
    offsets = np.arange(n)[:, None] * total
    counts = np.bincount((index.reshape(n, -1) + offsets).ravel(), minlength=n * total)
    return counts.reshape(n, total) / (h * w)


def _color_into(images: np.ndarray, out: np.ndarray, bins: Sequence[int], grid: int,
                histogram: ColorHistogram | None = None) -> None:
    """Write the joint HSV histograms of ``images: (n, 3, H, W) uint8`` into
    ``out: (n, prod(bins) · (1 + grid²)) float32``, :data:`CHUNK` images at a time (bounds the
    float64 HSV copy that scikit-image makes: 24 bytes a pixel). ``histogram``: the function
    that makes one region's histograms (default :func:`joint_color_histogram`)."""
    for start in range(0, len(images), CHUNK):
        stop = min(start + CHUNK, len(images))
        out[start:stop] = _color_chunk(images[start:stop], bins, grid, histogram)


def _color_chunk(images: np.ndarray, bins: Sequence[int], grid: int,
                 histogram: ColorHistogram | None = None) -> np.ndarray:
    histogram = histogram or joint_color_histogram
    n, _, h, w = images.shape
    total = int(np.prod(bins))
    regions = [(slice(None), slice(None))]
    if grid > 1:
        ys = np.linspace(0, h, grid + 1).astype(int)
        xs = np.linspace(0, w, grid + 1).astype(int)
        regions += [
            (slice(ys[i], ys[i + 1]), slice(xs[j], xs[j + 1]))
            for i in range(grid)
            for j in range(grid)
        ]
    features = []
    for rows, cols in regions:
        region = np.ascontiguousarray(images[:, :, rows, cols])
        part = np.asarray(histogram(region, tuple(bins)), dtype=np.float64)
        if part.shape != (n, total):
            raise CourseValueError(f"the colour histogram of {n} images with bins {tuple(bins)} "
                                   f"must be ({n}, {total}), got shape {part.shape}")
        features.append(part)
    return np.concatenate(features, axis=1).astype(np.float32)


def _color_dim(bins: Sequence[int], grid: int) -> int:
    return int(np.prod(bins)) * (1 + (grid * grid if grid > 1 else 0))


def color_histograms(
    images: np.ndarray, *, bins: Sequence[int] = (8, 3, 3), grid: int = COLOR_GRID,
    histogram: ColorHistogram | None = None
) -> np.ndarray:
    """Joint HSV histograms of ``images: (N, 3, H, W) uint8`` → ``(N, D) float32``.

    ``bins`` hue × saturation × value bins; one histogram for the whole image and one per cell
    of a ``grid × grid`` layout (0 or 1: whole image only), each normalised to sum to 1, so
    ``D = prod(bins) · (1 + grid²)``. ``histogram`` makes each region's histograms (default
    :func:`joint_color_histogram`).
    """
    images = _check_images(images)
    out = np.empty((len(images), _color_dim(bins, grid)), dtype=np.float32)
    _color_into(images, out, bins, grid, histogram)
    return out


def extract_features(
    images: np.ndarray,
    features: Sequence[str] = FEATURES,
    *,
    hog_cells: int = 8,
    color_bins: Sequence[int] = (8, 3, 3),
    color_histogram: ColorHistogram | None = None,
) -> np.ndarray:
    """The chosen descriptors of ``images: (N, 3, H, W) uint8``, concatenated: ``(N, D) float32``.

    Computed :data:`CHUNK` images at a time straight into the one ``(N, D)`` result, so the
    extra memory is bounded by the chunk, not by ``N`` (20,000 laptop-profile crops: the
    result is 170 MB; nothing else grows with ``N``). ``color_histogram``: the function that
    makes the colour histograms of each region (default :func:`joint_color_histogram`).
    """
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise CourseValueError(f"unknown or no features {list(features)}: choose from {FEATURES}")
    images = _check_images(images)
    n = len(images)
    hog_dim = 0
    if "hog" in features:
        hog_dim = hog_features(images[:1], cells=hog_cells).shape[1] if n else 0  # D of one
    color_dim = _color_dim(color_bins, COLOR_GRID) if "color" in features else 0
    out = np.empty((n, hog_dim + color_dim), dtype=np.float32)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        chunk = images[start:stop]
        if hog_dim:
            _hog_into(chunk, out[start:stop, :hog_dim], hog_cells, HOG_ORIENTATIONS, HOG_BLOCK)
        if color_dim:
            _color_into(chunk, out[start:stop, hog_dim:], color_bins, COLOR_GRID,
                        color_histogram)
    return out


class HandcraftedBaseline:
    """Hand-made features + a linear classifier, fitted on ``(N, 3, H, W) uint8`` images.

    ``features``: any of "hog", "color". ``classifier``: "logistic" (multinomial
    ``LogisticRegression``; scores are log-probabilities) or "linear_svm" (one-vs-rest
    ``LinearSVC`` solved in the primal; scores are signed distances to each class's
    hyperplane). ``C``: the inverse regularisation strength (features are standardised first).
    ``seed`` fixes the solvers' randomness. ``color_histogram``: the function that makes each
    region's joint HSV histogram (default :func:`joint_color_histogram`; notebook 10 passes the
    learner's own).

    Memory: the features are computed :data:`CHUNK` images at a time into one ``(N, D)
    float32`` matrix, standardised in place (the scaler's statistics are accumulated chunk by
    chunk), and handed to the classifier without a copy; scoring goes chunk by chunk too. On
    the laptop profile (20,000 crops of 56 px, D = 2,124) the matrix is 170 MB and is about all
    that fitting adds (the logistic regression keeps float32; "linear_svm" copies the matrix
    into liblinear's own format, several times larger).

    On laptop-profile SynthNet with 300 training images per class (the profile's earlier size;
    56 px centre crops) the default logistic regression was both better and several times
    faster than the SVM (about 50% against 56% top-1 error with HOG + colour); with the
    profile's 1,000 images per class it ends at 40–45% top-1 error after the network's 2 epochs
    (benchmarks/README.md).

    >>> baseline = HandcraftedBaseline().fit(train_images, train_labels)   # doctest: +SKIP
    >>> scores = baseline.scores(test_images)          # (N, C) float, higher = more likely
    """

    def __init__(
        self,
        features: Sequence[str] = FEATURES,
        classifier: str = "logistic",
        *,
        C: float = 0.003,
        hog_cells: int = 8,
        color_bins: Sequence[int] = (8, 3, 3),
        color_histogram: ColorHistogram | None = None,
        seed: int = 0,
        max_iter: int = 2000,
    ) -> None:
        if classifier not in CLASSIFIERS:
            raise CourseValueError(f"unknown classifier {classifier!r}: use one of {CLASSIFIERS}")
        self.features = tuple(features)
        self.classifier = classifier
        self.C = C
        self.hog_cells = hog_cells
        self.color_bins = tuple(color_bins)
        self.color_histogram = color_histogram
        self.seed = seed
        self.max_iter = max_iter
        self.pipeline = None
        self.classes_: np.ndarray | None = None

    def transform(self, images: np.ndarray) -> np.ndarray:
        """``images: (N, 3, H, W) uint8`` → the feature matrix ``(N, D) float32``."""
        return extract_features(
            images, self.features, hog_cells=self.hog_cells, color_bins=self.color_bins,
            color_histogram=self.color_histogram,
        )

    def fit(self, images: np.ndarray, labels: np.ndarray) -> HandcraftedBaseline:
        """Train on ``images: (N, 3, H, W) uint8`` and ``labels: (N,) int`` in ``0..C-1``."""
        # scikit-learn is heavy: loaded when a baseline is fitted, not when models is imported
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(images):
            raise CourseValueError(
                f"labels must be (N,) with N = {len(images)} images, got shape {labels.shape}"
            )
        if labels.size and (labels.min() < 0 or not np.issubdtype(labels.dtype, np.integer)):
            raise CourseValueError(f"labels must be integers 0..C-1, got min {labels.min()!r}")
        if len(np.unique(labels)) < 2:
            raise CourseValueError("need at least two classes to train a classifier")
        if self.classifier == "linear_svm":
            model = LinearSVC(
                C=self.C, dual=False, max_iter=self.max_iter, random_state=self.seed
            )
        else:
            model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
        x = self.transform(images)
        scaler = StandardScaler(copy=False)  # scales the matrix in place, chunk by chunk
        for start in range(0, len(x), CHUNK):
            scaler.partial_fit(x[start:start + CHUNK])
        for start in range(0, len(x), CHUNK):
            scaler.transform(x[start:start + CHUNK])
        model.fit(x, labels)
        self.pipeline = make_pipeline(scaler, model)
        self.classes_ = model.classes_
        return self

    def scores(self, images: np.ndarray, num_classes: int | None = None) -> np.ndarray:
        """Per-class scores ``(N, C) float32`` for ``images: (N, 3, H, W) uint8``.

        Column ``c`` is class ``c``. ``num_classes`` (default: the largest training label + 1)
        widens the matrix for classes absent from training; their column is ``-inf`` so they
        are never ranked above a seen class.
        """
        if self.pipeline is None:
            raise RuntimeError("HandcraftedBaseline.scores called before fit")
        images = _check_images(images)
        width = int(self.classes_.max()) + 1 if num_classes is None else num_classes
        out = np.full((len(images), width), -np.inf, dtype=np.float32)
        for start in range(0, len(images), CHUNK):
            x = self.transform(images[start:start + CHUNK])
            if self.classifier == "linear_svm":
                raw = self.pipeline.decision_function(x)
            else:
                raw = self.pipeline.predict_log_proba(x)
            if raw.ndim == 1:  # binary problems: one signed margin for the second class
                raw = np.stack([-raw, raw], axis=1)
            out[start:start + len(x), self.classes_] = raw
        return out

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The top-1 class of each image: ``(N,) int64``."""
        return self.scores(images).argmax(axis=1).astype(np.int64)
