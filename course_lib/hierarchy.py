"""Class hierarchies: the WordNet tree above the 1000 ILSVRC-2012 classes, and any small one.

:class:`Hierarchy` is generic: give it each node's parents and the leaf classes, and it answers
ancestors, lowest common ancestor (LCA), heights, depths, subtrees and super-categories.
SynthNet builds its small hierarchy with the same class; :func:`load_imagenet_hierarchy` builds
the ImageNet one from ``course_lib/resources/imagenet_hierarchy.tsv`` (written by
``scripts/build_class_resources.py`` from the WordNet 3.0 database).

Conventions (WordNet allows several parents per synset, so the "tree" is a DAG):

* **ancestors** of a node are the node itself and every node on any path from it to the root
  (the union over all parent paths).
* **height** is the length of the longest downward path to a leaf; leaves have height 0. This
  is the ILSVRC 2010 devkit's definition ("the length of the longest path to a leaf node (leaf
  nodes have height zero)", FACTS.md §2.3); heights are measured in this trimmed DAG, whose
  leaves are the classes.
* **LCA** of a and b is the common ancestor with the smallest height; ties are broken by the
  larger (primary) depth, then by the smaller node id, so the answer is deterministic. The
  *height* of the LCA, what the 2010-2011 hierarchical cost uses, does not depend on the tie
  break.
* **primary parent** is the first parent listed for a node (for WordNet, the first ``@``
  hypernym in ``data.noun``, then instance hypernyms). Following primary parents from any
  node gives one path to the root, the **primary path**.
* **depth** is the length of the primary path (root 0).
* **super_category(leaf, depth=d)** is the node at depth d on the leaf's primary path, so
  ``depth(super_category(leaf, d)) == d`` (or the leaf itself when its path is shorter).
  For ImageNet, depth-based groups are uneven (at depth 4: artifact 516, living thing 410,
  food 48, ...; at depth 6: animal 398, device 124, ...), so :data:`IMAGENET_GROUPS` and
  :func:`imagenet_group` give a curated grouping of the 1000 classes into 16 well-known
  super-categories (dog, bird, vehicle, ...) plus "other".

The ImageNet tree, compared with the ILSVRC-2012 devkit
--------------------------------------------------------
The devkit's ``meta.mat`` holds 1,860 synsets: the 1000 classes and 860 "high level" synsets,
"all their ancestors" (FACTS.md §2.2). Taking every synset on any WordNet 3.0 hypernym path from
the 1000 classes up to ``entity`` (n00001740) gives exactly **1,860 synsets (1000 + 860)**, so
the node set matches the devkit's count (the synsets themselves cannot be compared offline:
the devkit is not redistributable; :func:`course_lib.classes.read_devkit` reads a local copy).
As in the devkit, the classes are the leaves of the trimmed tree but may have children in
WordNet and ImageNet, which are left out. Numbers from the resource as built (WordNet 3.0,
Debian wordnet-base 3.0-37):

* one root, ``entity``; 75 of the 1,860 synsets have more than one parent (72 have two, 3 have
  three: potato, piano, tank; 38 of the 75 are classes). Example: dog (n02084071) is both a
  canine and a domestic animal, so a dog breed's ancestors include both paths.
* max height 18 (``entity``); classes sit at primary depth 4 to 18 (shortest path 4 to 17).
* 118 classes are dogs (under dog.n.01, n02084071), 11.8 % of the 1000. Deng et al. 2009
  speak of 147 dog categories in ImageNet as a whole (FACTS.md §1.1).
* the 860 internal synsets have 1 to 29 children (mean 2.25; 29 under "device"): a deep, thin
  DAG, not a broad tree. Of the 499,500 pairs of distinct classes, 2,976 meet only at
  ``entity`` (LCA height 18) and 530 at height 1.
* :data:`IMAGENET_GROUPS` splits the 1000 classes into dog 118, device 102, other mammal 100,
  clothing or covering 90, vehicle 72, equipment or implement 65, invertebrate 61, bird 59,
  structure 57, food or plant 57, container 55, reptile or amphibian 44, musical instrument
  26, furnishing 22, fish 16, landscape 16 and other 40.

Array shapes: :meth:`Hierarchy.lca_height_matrix` returns ``(L, L) int64`` in ``leaves`` order
(L = number of leaves, 1000 for ImageNet).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np

from course_lib.classes import load_class_table

from .errors import CourseValueError

ENTITY = "n00001740"  # entity.n.01, the root of the WordNet noun hierarchy
DOG = "n02084071"  # dog.n.01

#: Curated super-categories of the 1000 ImageNet classes as (label, synsets), most specific
#: first: a class belongs to the first group with one of its ancestors among the synsets (see
#: :func:`imagenet_group`), else to "other" (counts: see the module docstring).
IMAGENET_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dog", ("n02084071",)),  # dog, domestic dog
    ("bird", ("n01503061",)),
    ("reptile or amphibian", ("n01661091", "n01627424")),
    ("fish", ("n02512053",)),
    ("other mammal", ("n01861778",)),
    ("invertebrate", ("n01905661",)),
    # food (nutrient), solid food, produce (fruit, vegetables), plant, fungus
    ("food or plant", ("n00021265", "n07555863", "n07705711", "n00017222", "n12992868")),
    ("vehicle", ("n03100490",)),  # conveyance: vehicles, vessels, aircraft, public transport
    ("musical instrument", ("n03800933",)),
    ("clothing or covering", ("n03122748",)),  # covering: clothing, protective covering, ...
    ("container", ("n03094503",)),
    ("structure", ("n04341686",)),  # buildings, bridges, fences, ...
    ("furnishing", ("n03405265",)),  # furniture, ...
    ("device", ("n03183080",)),
    ("equipment or implement", ("n03294048", "n03563967")),  # tools, utensils, sports gear
    ("landscape", ("n00019128", "n09287968")),  # natural object, geological formation
)

_GROUP_OF = {w: label for label, ws in IMAGENET_GROUPS for w in ws}  # synset → group label


class Hierarchy:
    """A rooted DAG of classes with its leaves in a fixed order.

    Args:
        parents: node → its parents, primary parent first. Nodes that appear only as parents
            are added; the root has no parents (an empty sequence, None, or no entry).
        leaves: the classes, in the order used for indices and for :meth:`lca_height_matrix`.
            Leaves have no children; every other node has at least one.
        names: optional node → readable name (default: the node id).

    Raises:
        ValueError: a duplicate leaf, a leaf with children, an internal node without
            children, a cycle, or not exactly one root; the message names the node.
    """

    def __init__(
        self,
        parents: Mapping[str, Sequence[str]],
        leaves: Sequence[str],
        names: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(leaves, str):
            raise TypeError("leaves must be a sequence of node ids, not a string")
        self._leaves = tuple(leaves)
        if len(set(self._leaves)) != len(self._leaves):
            dup = sorted({x for x in self._leaves if self._leaves.count(x) > 1})
            raise CourseValueError(f"duplicate leaves: {dup[:5]}")
        if not self._leaves:
            raise CourseValueError("a hierarchy needs at least one leaf")
        par: dict[str, tuple[str, ...]] = {}
        for node, ps in parents.items():
            ps = () if ps is None else ps
            if isinstance(ps, str):
                raise TypeError(f"parents of {node!r} must be a sequence, not the string {ps!r}")
            par[node] = tuple(dict.fromkeys(ps))  # drop repeats, keep order
        for node in [p for ps in list(par.values()) for p in ps] + list(self._leaves):
            par.setdefault(node, ())
        self._parents = par
        kids: dict[str, list[str]] = {n: [] for n in par}
        for node, ps in par.items():
            for p in ps:
                kids[p].append(node)
        self._children = {n: tuple(sorted(c)) for n, c in kids.items()}
        self._names = {n: str(names[n]) for n in par if names and n in names}

        leaf_set = set(self._leaves)
        for n, c in self._children.items():
            if n in leaf_set and c:
                raise CourseValueError(f"leaf {n!r} has children {list(c)[:5]}")
            if n not in leaf_set and not c:
                raise CourseValueError(f"node {n!r} has no children and is not a leaf")
        roots = sorted(n for n, ps in par.items() if not ps)
        if len(roots) != 1:
            raise CourseValueError(f"a hierarchy needs exactly one root, found {len(roots)}: {roots[:5]}")
        self._root = roots[0]

        self._order = self._topological_order(par)
        self._measure(par)
        self._matrix: np.ndarray | None = None

    def _topological_order(self, par: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
        """Every node, root first (Kahn); a cycle leaves nodes unvisited and is refused."""
        pending = {n: len(ps) for n, ps in par.items()}
        order, frontier = [], [self._root]
        while frontier:
            n = frontier.pop()
            order.append(n)
            for c in self._children[n]:
                pending[c] -= 1
                if pending[c] == 0:
                    frontier.append(c)
        if len(order) != len(par):
            stuck = sorted(n for n, k in pending.items() if k > 0)
            raise CourseValueError(f"the parent links contain a cycle through {stuck[:5]}")
        return tuple(order)

    def _measure(self, par: dict[str, tuple[str, ...]]) -> None:
        """Heights (leaves up), primary depths and ancestor sets, in topological order."""
        self._height: dict[str, int] = {}
        for n in reversed(self._order):
            c = self._children[n]
            self._height[n] = 1 + max(self._height[x] for x in c) if c else 0
        self._depth: dict[str, int] = {}
        self._anc: dict[str, frozenset[str]] = {}
        for n in self._order:
            ps = par[n]
            self._depth[n] = self._depth[ps[0]] + 1 if ps else 0
            self._anc[n] = frozenset([n]).union(*(self._anc[p] for p in ps))

    # ------------------------------------------------------------------ structure
    @property
    def leaves(self) -> list[str]:
        """The leaf classes, in the order given (index i ↔ row i of the LCA matrix)."""
        return list(self._leaves)

    @property
    def nodes(self) -> list[str]:
        """All nodes, root first, in a topological order (every parent before its children)."""
        return list(self._order)

    @property
    def root(self) -> str:
        return self._root

    @property
    def max_height(self) -> int:
        """Height of the root: the largest LCA height two leaves can have."""
        return self._height[self._root]

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, node: object) -> bool:
        return node in self._parents

    def __repr__(self) -> str:
        return (
            f"Hierarchy({len(self)} nodes, {len(self._leaves)} leaves, "
            f"root {self.name(self._root)!r}, max_height {self.max_height})"
        )

    def _check(self, node: str) -> str:
        if node not in self._parents:
            raise KeyError(f"{node!r} is not a node of this hierarchy")
        return node

    def name(self, node: str) -> str:
        """Readable name of ``node`` (its id when no name was given)."""
        return self._names.get(self._check(node), node)

    def parents(self, node: str) -> list[str]:
        """Parents of ``node``, primary parent first; [] for the root."""
        return list(self._parents[self._check(node)])

    def children(self, node: str) -> list[str]:
        """Children of ``node``, sorted by id; [] for a leaf."""
        return list(self._children[self._check(node)])

    # ------------------------------------------------------------------ queries
    def ancestors(self, node: str) -> list[str]:
        """``node`` and every node above it on any path, nearest first.

        Sorted by height, then id: ``node`` comes first and the root last.
        """
        return sorted(self._anc[self._check(node)], key=lambda n: (self._height[n], n))

    def height(self, node: str) -> int:
        """Length of the longest path from ``node`` down to a leaf (leaves: 0)."""
        return self._height[self._check(node)]

    def depth(self, node: str) -> int:
        """Distance from the root along the primary path (root: 0)."""
        return self._depth[self._check(node)]

    def primary_path(self, node: str) -> list[str]:
        """Root → ... → ``node``, following each node's primary (first) parent."""
        path = [self._check(node)]
        while self._parents[path[-1]]:
            path.append(self._parents[path[-1]][0])
        return path[::-1]

    def lca(self, a: str, b: str) -> str:
        """Lowest common ancestor: the common ancestor of smallest height (ties: larger
        primary depth, then smaller id). ``lca(a, a) == a``; symmetric."""
        common = self._anc[self._check(a)] & self._anc[self._check(b)]
        return min(common, key=lambda n: (self._height[n], -self._depth[n], n))

    def lca_height(self, a: str, b: str) -> int:
        """Height of :meth:`lca` (0 when ``a == b`` is a leaf): the 2010-2011 hierarchical cost."""
        return self._height[self.lca(a, b)]

    def leaves_under(self, node: str) -> list[str]:
        """The leaves that have ``node`` among their ancestors, in ``leaves`` order."""
        self._check(node)
        return [x for x in self._leaves if node in self._anc[x]]

    def super_category(self, leaf: str, depth: int = 1) -> str:
        """The node at ``depth`` on the primary path of ``leaf`` (``leaf`` itself if its path is
        shorter). With depth 1 this is the child of the root the leaf descends from."""
        if depth < 0:
            raise CourseValueError(f"depth must be >= 0, got {depth}")
        path = self.primary_path(leaf)
        return path[min(depth, len(path) - 1)]

    def lca_height_matrix(self) -> np.ndarray:
        """``(L, L) int64``: entry [i, j] is the height of the LCA of ``leaves[i]`` and
        ``leaves[j]`` (0 on the diagonal). Read-only, computed once.

        Vectorised: with A the ``(L, N)`` leaf-by-ancestor indicator and the N nodes grouped by
        height h = 0, 1, ..., a pair first gets a common ancestor at the smallest h where
        ``A_h @ A_h.T > 0``; the groups together cost one ``(L, N) @ (N, L)`` product.
        """
        if self._matrix is None:
            col = {n: i for i, n in enumerate(self._order)}
            a = np.zeros((len(self._leaves), len(col)), dtype=np.float32)
            for i, leaf in enumerate(self._leaves):
                a[i, [col[n] for n in self._anc[leaf]]] = 1.0
            heights = np.array([self._height[n] for n in self._order])
            out = np.full((len(self._leaves),) * 2, -1, dtype=np.int64)
            for h in np.unique(heights):
                part = a[:, heights == h]
                part = part[:, part.any(axis=0)]
                if part.shape[1] == 0:
                    continue
                meet = (part @ part.T > 0) & (out < 0)
                out[meet] = h
                if (out >= 0).all():
                    break
            out.setflags(write=False)
            self._matrix = out
        return self._matrix


# ---------------------------------------------------------------------- ImageNet
def _read_tsv(name: str) -> list[dict[str, str]]:
    """Rows of a tab-separated resource file (header line, no quoting)."""
    path = resources.files("course_lib") / "resources" / name
    with path.open("r", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


@functools.lru_cache(maxsize=1)
def load_imagenet_hierarchy() -> Hierarchy:
    """The WordNet 3.0 hypernym DAG above the 1000 ILSVRC-2012 classes (1,860 synsets).

    Leaves are the class wnids in the standard sorted 0-999 order, so leaf i is class index i.
    Names are the WordNet lemmas ("dog, domestic dog, Canis familiaris"). Cached: every call
    returns the same (immutable) object.
    """
    rows = _read_tsv("imagenet_hierarchy.tsv")
    parents = {r["wnid"]: r["parents"].split() for r in rows}
    names = {r["wnid"]: r["name"] for r in rows}
    h = Hierarchy(parents, list(load_class_table()["wnid"]), names)
    if h.root != ENTITY or len(h) != len(rows):
        raise CourseValueError(f"imagenet_hierarchy.tsv: root {h.root}, {len(h)} nodes; file corrupt?")
    return h


def imagenet_group(wnid: str, hierarchy: Hierarchy | None = None) -> str:
    """The curated super-category (:data:`IMAGENET_GROUPS`) of an ImageNet synset, or "other"."""
    h = load_imagenet_hierarchy() if hierarchy is None else hierarchy
    ancestors = set(h.ancestors(wnid))
    return next((label for synset, label in _GROUP_OF.items() if synset in ancestors), "other")
