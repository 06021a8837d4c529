"""Crowd verification of candidate images: simulated annotators and Deng et al.'s dynamic consensus.

ImageNet's candidate images came from web image search, and only about 10 % of raw search
results show the synset (Deng et al. 2009, Sec. 3.1). Workers on Amazon Mechanical Turk voted
"does this image contain the synset?" and an image was kept "only if it gets a convincing
majority of the votes" (Sec. 3.2). How many votes is convincing depends on the synset: "five
users might be necessary" for "Burmese cat", far fewer for "cat". The **dynamic consensus**
algorithm (Sec. 3.2; FACTS.md §1.3) therefore works per synset:

1. sample an initial subset of candidates (the *seed* images) and collect **at least 10 votes**
   on each;
2. from those votes estimate a **confidence table** P(good | #yes, #no);
3. label every remaining image with more votes, one at a time, until its confidence passes a
   pre-determined threshold.

This module simulates the crowd and implements the algorithm, with fixed-k majority voting for
comparison.

**The crowd model** (:class:`Crowd`). A candidate image is good with probability ``prior``.
Images differ in how easy they are: image *i* has its own probability ``q_i`` that a worker
says yes, drawn from ``Beta(κ·s, κ·(1 − s))`` for a good image (mean s, the *sensitivity*) and
``Beta(κ·f, κ·(1 − f))`` for a bad one (mean f, the *false-positive rate*). Workers vote
independently given ``q_i``. The concentration κ says how alike images are: κ = ∞ makes every
image equally easy (votes independent given the label), a small κ makes some images ambiguous
for everyone (a Burmese cat seen from behind), so votes on one image agree more with each other
than with the truth. Under this model the exact confidence P(good | y yes, n no) has a closed
form (beta-binomial likelihoods, :meth:`Crowd.confidence`).

**Calibrated to Fig. 7.** :func:`fit_crowd` finds the four parameters whose exact confidences
are closest (least squares) to a published table; :data:`CAT` and :data:`BURMESE_CAT` are the
fits to the two columns of Deng et al.'s Fig. 7 (:data:`FIG7`; largest difference 0.005 for
"cat", 0.012 for "Burmese cat"). :func:`crowd_for_difficulty` interpolates between them: a
difficulty of 0 is as easy as "cat", 1 as hard as "Burmese cat".

Arrays: ``good`` is ``(N,) bool`` (the truth: image shows the synset), ``votes`` is ``(N, V)
bool`` (True = a "yes" vote, in the order they were cast).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.special import betaln, expit, logit, xlogy
from scipy.stats import binom

from .errors import CourseValueError

#: Deng et al. 2009, Fig. 7 (right): (#yes, #no) → (confidence for "cat", for "Burmese cat"),
#: as read from the table in FACTS.md §1.3.
FIG7: Mapping[tuple[int, int], tuple[float, float]] = {
    (0, 1): (0.07, 0.23),
    (1, 0): (0.85, 0.69),
    (1, 1): (0.46, 0.49),
    (2, 0): (0.97, 0.83),
    (0, 2): (0.02, 0.12),
    (3, 0): (0.99, 0.90),
    (2, 1): (0.85, 0.68),
}

#: Deng et al. 2009 collected at least this many votes per seed image (Sec. 3.2).
SEED_VOTES = 10


def fig7_table() -> pd.DataFrame:
    """Fig. 7's confidence table: columns ``yes``, ``no``, ``cat``, ``burmese_cat`` (7 rows)."""
    rows = [(y, n, c, b) for (y, n), (c, b) in FIG7.items()]
    return pd.DataFrame(rows, columns=["yes", "no", "cat", "burmese_cat"])


# ---------------------------------------------------------------------------- the crowd
def _check_rate(name: str, value: float, open_interval: bool = False) -> None:
    ok = 0 < value < 1 if open_interval else 0 <= value <= 1
    if not ok:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise CourseValueError(f"{name} must be in {bounds}, got {value!r}")


def _log_likelihood(yes, no, mean: float, concentration: float) -> np.ndarray:
    """log P(a given sequence with ``yes`` yes and ``no`` no votes | image class), any shape."""
    yes, no = np.asarray(yes, dtype=float), np.asarray(no, dtype=float)
    if math.isinf(concentration) or mean in (0.0, 1.0):
        return xlogy(yes, mean) + xlogy(no, 1 - mean)
    a, b = concentration * mean, concentration * (1 - mean)
    return betaln(yes + a, no + b) - betaln(a, b)


@dataclass(frozen=True)
class Crowd:
    """Annotators verifying the candidate images of one synset (model: module docstring).

    Args:
        sensitivity: P(yes | good image), averaged over images and workers.
        false_positive_rate: P(yes | bad image).
        prior: fraction of candidates that are good.
        concentration: κ of the per-image Beta distributions; ``math.inf``: all images alike.
    """

    sensitivity: float
    false_positive_rate: float
    prior: float = 0.35
    concentration: float = math.inf

    def __post_init__(self):
        _check_rate("sensitivity", self.sensitivity)
        _check_rate("false_positive_rate", self.false_positive_rate)
        _check_rate("prior", self.prior, open_interval=True)
        if not self.concentration > 0:
            raise CourseValueError(f"concentration must be positive, got {self.concentration!r}")
        if self.sensitivity <= self.false_positive_rate:
            raise CourseValueError(
                f"sensitivity ({self.sensitivity}) must exceed the false-positive rate "
                f"({self.false_positive_rate}): otherwise a yes vote is no evidence"
            )

    def confidence(self, yes, no) -> np.ndarray:
        """Exact P(good | ``yes`` yes votes, ``no`` no votes) under this model (any shape)."""
        good = np.log(self.prior) + _log_likelihood(yes, no, self.sensitivity, self.concentration)
        bad = np.log1p(-self.prior) + _log_likelihood(
            yes, no, self.false_positive_rate, self.concentration
        )
        with np.errstate(invalid="ignore"):
            return 1.0 / (1.0 + np.exp(bad - good))

    def _yes_probability(self, mean: float, n: int, rng: np.random.Generator) -> np.ndarray:
        if math.isinf(self.concentration) or mean in (0.0, 1.0):
            return np.full(n, mean)
        return rng.beta(self.concentration * mean, self.concentration * (1 - mean), size=n)

    def simulate(self, num_images: int, num_votes: int, seed: int | np.random.Generator = 0):
        """Draw candidates and votes: ``(good (N,) bool, votes (N, V) bool)``.

        Every draw comes from ``numpy.random.default_rng(seed)``: the same seed gives the same
        images and votes, and the first votes of an image do not depend on ``num_votes``
        (so comparing methods on the same seed compares them on the same crowd).
        """
        if num_images < 0 or num_votes < 0:
            raise CourseValueError(f"need num_images, num_votes >= 0, got {num_images}, {num_votes}")
        rng = np.random.default_rng(seed)
        good = rng.random(num_images) < self.prior
        q = np.where(
            good,
            self._yes_probability(self.sensitivity, num_images, rng),
            self._yes_probability(self.false_positive_rate, num_images, rng),
        )
        votes = np.empty((num_images, num_votes), dtype=bool)
        for j in range(num_votes):  # column by column: vote j never depends on num_votes
            votes[:, j] = rng.random(num_images) < q
        return good, votes


#: Fitted to the "cat" column of Fig. 7 with :func:`fit_crowd` (largest difference 0.005).
CAT = Crowd(sensitivity=0.859, false_positive_rate=0.076, prior=0.333, concentration=15.4)
#: Fitted to the "Burmese cat" column of Fig. 7 with :func:`fit_crowd` (largest difference 0.012).
BURMESE_CAT = Crowd(sensitivity=0.661, false_positive_rate=0.202, prior=0.405, concentration=5.95)


def fit_crowd(table: Mapping[tuple[int, int], float]) -> Crowd:
    """The :class:`Crowd` whose exact confidences best match ``table`` (least squares).

    ``table``: (#yes, #no) → P(good | votes), e.g. one column of :data:`FIG7`. Needs at least
    four entries (the model has four parameters).
    """
    if len(table) < 4:
        raise CourseValueError(f"need at least 4 table entries to fit 4 parameters, got {len(table)}")
    keys = list(table)
    yes = np.array([k[0] for k in keys])
    no = np.array([k[1] for k in keys])
    target = np.array([table[k] for k in keys], dtype=float)

    def crowd(x) -> Crowd:
        prior, sens, fpr = (float(v) for v in expit(x[:3]))
        return Crowd(sens, min(fpr, sens - 1e-9), prior, float(np.exp(x[3])))

    def residuals(x):
        return crowd(x).confidence(yes, no) - target

    start = [logit(0.35), logit(0.8), logit(0.2), np.log(5.0)]
    return crowd(least_squares(residuals, start).x)


def crowd_for_difficulty(difficulty: float) -> Crowd:
    """A crowd between :data:`CAT` (``difficulty`` 0) and :data:`BURMESE_CAT` (1).

    Sensitivity, false-positive rate, prior and log-concentration are interpolated linearly.
    """
    _check_rate("difficulty", difficulty)
    d = float(difficulty)

    def mix(a: float, b: float) -> float:
        return (1 - d) * a + d * b

    return Crowd(
        sensitivity=mix(CAT.sensitivity, BURMESE_CAT.sensitivity),
        false_positive_rate=mix(CAT.false_positive_rate, BURMESE_CAT.false_positive_rate),
        prior=mix(CAT.prior, BURMESE_CAT.prior),
        concentration=math.exp(mix(math.log(CAT.concentration), math.log(BURMESE_CAT.concentration))),
    )


def difficulty_from_depth(depth, easy_depth: float, hard_depth: float) -> np.ndarray:
    """A crude fine-grainedness score from WordNet depth: 0 at ``easy_depth`` or shallower,
    1 at ``hard_depth`` or deeper, linear between (any shape → float array)."""
    if hard_depth <= easy_depth:
        raise CourseValueError(f"hard_depth ({hard_depth}) must be deeper than easy_depth ({easy_depth})")
    d = (np.asarray(depth, dtype=float) - easy_depth) / (hard_depth - easy_depth)
    return np.clip(d, 0.0, 1.0)


# ---------------------------------------------------------------------------- voting
def _as_votes(votes) -> np.ndarray:
    arr = np.asarray(votes)
    if arr.ndim != 2:
        raise CourseValueError(f"votes must be (N, V), got shape {arr.shape}")
    if arr.dtype != bool:
        bad = ~np.isin(arr, (0, 1))
        if bad.any():
            i, j = np.unravel_index(np.argmax(bad), arr.shape)
            raise CourseValueError(f"votes must be booleans or 0/1 (True / 1 = yes): votes[{i}, {j}] "
                             f"= {arr[i, j].item()!r}")
        arr = arr.astype(bool)
    return arr


def majority_vote(votes, k: int | None = None) -> np.ndarray:
    """Fixed majority voting on ``votes (N, V)`` bool (or 0/1): ``(N,) bool``, True when more
    than half of the first ``k`` votes (default: all V) are yes. A tie (even ``k``) counts as
    *not* convincing: the image is rejected."""
    votes = _as_votes(votes)
    k = votes.shape[1] if k is None else k
    if not 1 <= k <= votes.shape[1]:
        raise CourseValueError(f"k must be in 1..{votes.shape[1]} (votes per image), got {k}")
    return 2 * votes[:, :k].sum(axis=1) > k


@dataclass(frozen=True)
class ConfidenceTable:
    """P(good | #yes, #no) estimated from seed images.

    ``probability``: ``(V+1, V+1) float``, entry ``[y, n]`` (NaN where no seed image had that
    many yes and no votes). ``support``: the same shape, the number of seed images behind each
    entry (each image spread over the vote subsets it contains; see :func:`confidence_table`).
    """

    probability: np.ndarray
    support: np.ndarray

    @property
    def max_votes(self) -> int:
        return self.probability.shape[0] - 1

    def lookup(self, yes, no) -> np.ndarray:
        """Table entries for arrays of counts (same shape); NaN beyond the table or unseen."""
        yes, no = np.asarray(yes), np.asarray(no)
        inside = (yes >= 0) & (no >= 0) & (yes + no <= self.max_votes)
        out = np.full(np.broadcast(yes, no).shape, np.nan)
        out[inside] = self.probability[yes[inside], no[inside]]
        return out

def confidence_table(votes, labels=None) -> ConfidenceTable:
    """Estimate P(good | #yes, #no) from seed images with ``V`` votes each.

    ``votes``: ``(S, V) bool`` seed votes. ``labels``: ``(S,) bool`` what each seed image really
    is; by default the strict majority of its ``V`` votes (all that Deng et al. had: with 10 or
    more votes the majority is taken as the truth; it is wrong now and then on hard synsets).

    Votes of one image are exchangeable, so every subset of its votes is a sample of "what k
    workers would say": an image with Y yes among V votes shows (y yes, n no) in
    ``C(Y, y)·C(V−Y, n)`` of the ``C(V, y+n)`` subsets of size y+n, and contributes that fraction
    to cell [y, n]. Entry [y, n] is the labelled-good share of the weight in that cell.
    """
    votes = _as_votes(votes)
    s, v = votes.shape
    if s == 0 or v == 0:
        raise CourseValueError(f"need at least one seed image with at least one vote, got shape {votes.shape}")
    labels = majority_vote(votes) if labels is None else np.asarray(labels, dtype=bool)
    if labels.shape != (s,):
        raise CourseValueError(f"labels must be ({s},), got shape {labels.shape}")
    yes_total = votes.sum(axis=1)
    # Seed images with the same (Y, label) contribute identical weights: count them once.
    count = np.zeros((v + 1, 2))
    np.add.at(count, (yes_total, labels.astype(int)), 1)
    y = np.arange(v + 1)[:, None]
    n = np.arange(v + 1)[None, :]
    total = np.zeros((v + 1, v + 1))
    good = np.zeros((v + 1, v + 1))
    comb = np.vectorize(math.comb, otypes=[float])
    for big_y in np.flatnonzero(count.sum(axis=1)):
        w = comb(big_y, y) * comb(v - big_y, n) / comb(v, np.minimum(y + n, v))
        w = np.where(y + n <= v, w, 0.0)
        total += w * count[big_y].sum()
        good += w * count[big_y, 1]
    total[0, 0] = good[0, 0] = 0.0  # no votes is no evidence
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = np.where(total > 0, good / total, np.nan)
    return ConfidenceTable(prob, total)


@dataclass(frozen=True)
class ConsensusResult:
    """Outcome of :func:`dynamic_consensus`: ``accepted (N,) bool``, ``votes_used (N,) int``
    (votes cast on each image before it stopped), ``confidence (N,) float`` at that point."""

    accepted: np.ndarray
    votes_used: np.ndarray
    confidence: np.ndarray


def dynamic_consensus(votes, table: ConfidenceTable, threshold: float) -> ConsensusResult:
    """Label images by collecting votes one at a time until the table is confident enough.

    ``votes``: ``(N, V) bool``, the votes each image *would* get, in order (only the first
    ``votes_used`` are counted as spent). After each vote the confidence c = table[#yes, #no] is
    looked up: the image is **accepted** when c ≥ ``threshold``, **rejected** when
    1 − c ≥ ``threshold``, and otherwise gets another vote, up to V (at most the table's size).
    An image still undecided at the cap is rejected: its votes
    never made a convincing majority. Cells the seed images never reached (NaN) decide
    nothing. ``threshold`` is in [0.5, 1].
    """
    votes = _as_votes(votes)
    if not 0.5 <= threshold <= 1:
        raise CourseValueError(f"threshold must be in [0.5, 1], got {threshold}")
    cap = min(votes.shape[1], table.max_votes)
    if cap < 1:
        raise CourseValueError(f"no vote to count: {votes.shape[1]} votes per image, a table up "
                               f"to {table.max_votes} votes")
    n = votes.shape[0]
    yes = np.cumsum(votes[:, :cap], axis=1)  # (N, cap): yes votes after 1..cap votes
    no = np.arange(1, cap + 1)[None, :] - yes
    conf = table.lookup(yes, no)  # (N, cap)
    stop = (conf >= threshold) | (1 - conf >= threshold)  # NaN compares False: keep voting
    stop[:, -1] = True
    k = np.argmax(stop, axis=1)  # index of the first vote after which it stops
    c = conf[np.arange(n), k]
    return ConsensusResult(c >= threshold, k + 1, c)


# ---------------------------------------------------------------------------- experiments
def _precision_recall(good: np.ndarray, accepted: np.ndarray) -> tuple[float, float]:
    kept = int(accepted.sum())
    precision = float(good[accepted].mean()) if kept else math.nan
    recall = float(accepted[good].mean()) if good.any() else math.nan
    return precision, recall


def compare_methods(crowd: Crowd, num_images: int, thresholds: Sequence[float] = (0.6, 0.8, 0.9,
                    0.95, 0.99), majority_ks: Sequence[int] = (1, 3, 5, 7, 9),
                    seed_labels: str = "majority", seed: int = 0) -> pd.DataFrame:
    """Votes spent against label quality: dynamic consensus vs fixed majority voting.

    Simulates ``num_images`` candidates of one synset (:meth:`Crowd.simulate`, ``seed``). For
    dynamic consensus the first tenth of them (at least 10), the seeds, get :data:`SEED_VOTES`
    votes each, the table is estimated from them (majority labels), they are
    labelled by their majority, and the rest by :func:`dynamic_consensus` at each threshold.
    ``seed_labels="truth"`` builds the table (and labels the seeds) with the true labels
    instead, as if experts had labelled the seeds: the best a table can be. Majority voting labels every image with its first k votes. Both methods see the same votes.

    Returns one row per setting: ``method`` ("dynamic consensus" or "majority vote"),
    ``setting`` (threshold or k), ``votes_per_image`` (all votes spent, seed votes included,
    divided by ``num_images``), ``precision`` (share of accepted images that are good),
    ``recall`` (share of good images accepted) and ``accepted``.
    """
    seed_images, seed_votes = max(10, num_images // 10), SEED_VOTES
    if num_images <= seed_images:
        raise CourseValueError(f"num_images = {num_images}: more than the {seed_images} seed "
                               "images are needed")
    width = max([seed_votes, *majority_ks])  # majority_ks may be empty
    good, votes = crowd.simulate(num_images, width, seed)
    if seed_labels == "majority":
        seed_accepted = majority_vote(votes[:seed_images, :seed_votes])
    elif seed_labels == "truth":
        seed_accepted = good[:seed_images]
    else:
        raise CourseValueError(f"seed_labels must be 'majority' or 'truth', got {seed_labels!r}")
    table = confidence_table(votes[:seed_images, :seed_votes], seed_accepted)
    rows = []
    for t in thresholds:
        result = dynamic_consensus(votes[seed_images:, :seed_votes], table, t)
        accepted = np.concatenate([seed_accepted, result.accepted])
        spent = seed_images * seed_votes + int(result.votes_used.sum())
        p, r = _precision_recall(good, accepted)
        rows.append(("dynamic consensus", t, spent / num_images, p, r, int(accepted.sum())))
    for k in majority_ks:
        accepted = majority_vote(votes, k)
        p, r = _precision_recall(good, accepted)
        rows.append(("majority vote", k, float(k), p, r, int(accepted.sum())))
    return pd.DataFrame(
        rows, columns=["method", "setting", "votes_per_image", "precision", "recall", "accepted"]
    )


def votes_for_majority_accuracy(accuracy: float, target: float, max_votes: int = 99) -> int:
    """Smallest odd k such that a strict majority of k independent votes, each right with
    probability ``accuracy``, is right with probability ≥ ``target`` (Condorcet's jury theorem).

    Raises ValueError when ``accuracy`` ≤ 0.5 or no odd k ≤ ``max_votes`` reaches ``target``.
    """
    if not 0.5 < accuracy <= 1:
        raise CourseValueError(f"accuracy must be in (0.5, 1] for majorities to help, got {accuracy}")
    for k in range(1, max_votes + 1, 2):
        if binom.sf(k // 2, k, accuracy) >= target:
            return k
    raise CourseValueError(f"no odd k <= {max_votes} reaches {target} with accuracy {accuracy}")


# ---------------------------------------------------------------------------- candidates
def candidate_pool_growth(synonyms: int = 2, expansions: int = 3, languages: int = 5,
                          seed: int = 0) -> pd.DataFrame:
    """A toy model of Deng et al.'s candidate collection (Sec. 3.1) for one synset.

    Each language reaches its own part of the web, 5000 images of which 10 % show the synset
    (raw search results are about 10 % accurate). A query returns 300 to 1000 (drawn
    uniformly) distinct images, popular ones more often (weights ∝ 1/√rank), so queries in one
    language overlap. Queries run in order:
    per language, ``synonyms`` synonym queries, then ``expansions`` queries expanded with a
    parent synset's word ("whippet dog").

    Returns one row per query: ``query`` (1, 2, ...), ``language`` (0 = English), ``kind``
    ("synonym" or "parent expansion"), ``returned``, ``unique`` (distinct candidates so far,
    duplicates removed), ``good`` (good ones among them), ``precision`` (good / unique).
    """
    rng = np.random.default_rng(seed)
    images_per_language, good_fraction, (lo, hi) = 5000, 0.10, (300, 1000)
    weights = 1 / np.sqrt(np.arange(1, images_per_language + 1))
    weights /= weights.sum()
    rows, seen, good_seen = [], set(), 0
    for lang in range(languages):
        is_good = rng.random(images_per_language) < good_fraction
        for q in range(synonyms + expansions):
            size = int(rng.integers(lo, hi + 1))
            hits = rng.choice(images_per_language, size=size, replace=False, p=weights)
            for h in hits:
                key = (lang, int(h))
                if key not in seen:
                    seen.add(key)
                    good_seen += bool(is_good[h])
            kind = "synonym" if q < synonyms else "parent expansion"
            rows.append((len(rows) + 1, lang, kind, size, len(seen), good_seen))
    df = pd.DataFrame(rows, columns=["query", "language", "kind", "returned", "unique", "good"])
    df["precision"] = df["good"] / df["unique"]
    return df
