"""Tests for course_lib.hierarchy: the generic Hierarchy, the ImageNet tree, and the builder's
WordNet parser."""

from __future__ import annotations

import importlib.util
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from course_lib import hierarchy as H

ENTITY = "n00001740"
CHIHUAHUA, JAPANESE_SPANIEL, TABBY = "n02085620", "n02085782", "n02123045"
SPORTS_CAR, CONVERTIBLE = "n04285008", "n03100240"
TOY_DOG, DOG, DOMESTIC_ANIMAL, CARNIVORE = "n02085374", "n02084071", "n01317541", "n02075296"
WHOLE = "n00003553"


@pytest.fixture(scope="module")
def imagenet():
    return H.load_imagenet_hierarchy()


# A small DAG with multiple inheritance, heights and depths worked out by hand:
#
#   root ─┬─ animal ─┬─ dog ─────┬─ pug        (dog has two parents: animal, pet)
#         │          │           └─ beagle
#         │          └─ cat ─────── tabby      (cat: animal, pet)
#         ├─ pet ──── (dog, cat)
#         └─ thing ── vehicle ─┬─ car
#                              └─ bus
#
# heights: leaves 0; dog 1, cat 1, vehicle 1; animal 2, pet 2, thing 2; root 3.
SMALL_PARENTS = {
    "animal": ["root"],
    "pet": ["root"],
    "thing": ["root"],
    "dog": ["animal", "pet"],
    "cat": ["animal", "pet"],
    "vehicle": ["thing"],
    "pug": ["dog"],
    "beagle": ["dog"],
    "tabby": ["cat"],
    "car": ["vehicle"],
    "bus": ["vehicle"],
}
SMALL_LEAVES = ["pug", "beagle", "tabby", "car", "bus"]


@pytest.fixture
def small():
    return H.Hierarchy(SMALL_PARENTS, SMALL_LEAVES, {"pug": "Pug dog"})


def brute_lca_height(h: H.Hierarchy, a: str, b: str, memo: dict | None = None) -> int:
    """LCA height from first principles: walk parents, intersect, take the smallest height,
    with heights recomputed by walking children (``memo`` caches them across calls)."""
    memo = {} if memo is None else memo

    def up(n):
        seen, stack = set(), [n]
        while stack:
            x = stack.pop()
            if x not in seen:
                seen.add(x)
                stack.extend(h.parents(x))
        return seen

    def height(n):
        if n not in memo:
            kids = h.children(n)
            memo[n] = 0 if not kids else 1 + max(height(k) for k in kids)
        return memo[n]

    return min(height(n) for n in up(a) & up(b))


# --------------------------------------------------------------------------- generic class
def test_small_heights_depths_and_root(small):
    assert small.root == "root" and len(small) == 12
    assert [small.height(x) for x in ["pug", "dog", "animal", "root"]] == [0, 1, 2, 3]
    assert small.max_height == 3
    assert small.depth("pug") == 3  # root → animal (primary) → dog → pug
    assert small.primary_path("tabby") == ["root", "animal", "cat", "tabby"]


def test_small_ancestors_are_the_union_over_parent_paths(small):
    assert set(small.ancestors("pug")) == {"pug", "dog", "animal", "pet", "root"}
    assert small.ancestors("pug")[0] == "pug" and small.ancestors("pug")[-1] == "root"


def test_small_lca_and_tie_break(small):
    assert small.lca("pug", "beagle") == "dog"
    assert small.lca("pug", "car") == "root"
    # dog and cat share two parents of height 2 (animal, pet) at the same depth: smaller id wins
    assert small.lca("pug", "tabby") == "animal"
    assert small.lca_height("pug", "tabby") == 2 and small.lca("pug", "pug") == "pug"
    assert small.lca("dog", "beagle") == "dog"  # a node and its descendant meet at the node


def test_small_matrix_by_hand(small):
    expected = np.array(
        [  # pug beagle tabby car bus
            [0, 1, 2, 3, 3],
            [1, 0, 2, 3, 3],
            [2, 2, 0, 3, 3],
            [3, 3, 3, 0, 1],
            [3, 3, 3, 1, 0],
        ]
    )
    m = small.lca_height_matrix()
    assert m.dtype == np.int64 and m.shape == (5, 5)
    np.testing.assert_array_equal(m, expected)
    with pytest.raises(ValueError):
        m[0, 0] = 5  # read-only: shared by every caller


def test_small_leaves_under_and_super_category(small):
    assert small.leaves_under("pet") == ["pug", "beagle", "tabby"]
    assert small.leaves_under("bus") == ["bus"]
    assert small.super_category("pug", depth=1) == "animal"
    assert small.super_category("car", depth=2) == "vehicle"
    assert small.super_category("car", depth=9) == "car"
    assert small.depth(small.super_category("tabby", depth=2)) == 2


@pytest.mark.parametrize(
    ("parents", "leaves", "message"),
    [
        ({"a": ["r"], "b": ["r"]}, ["a", "a", "b"], "duplicate leaves"),
        ({"a": ["r"], "b": ["a"]}, ["a", "b"], "leaf 'a' has children"),
        ({"a": ["r"], "b": ["r"]}, ["a"], "node 'b' has no children"),
        ({"a": ["r"], "b": ["s"]}, ["a", "b"], "exactly one root"),
        ({"a": ["r", "c"], "c": ["b"], "b": ["c"]}, ["a"], "cycle"),
    ],
)
def test_small_bad_input(parents, leaves, message):
    with pytest.raises(ValueError, match=message):
        H.Hierarchy(parents, leaves)


def test_root_given_with_none_or_empty_parents():
    a = H.Hierarchy({"r": None, "x": ["r"], "y": ("r",)}, ["x", "y"])
    b = H.Hierarchy({"r": [], "x": ["r"], "y": ["r"]}, ("x", "y"))
    assert a.root == b.root == "r" and a.lca("x", "y") == "r" and a.max_height == 1


def test_unknown_node_named(small):
    with pytest.raises(KeyError, match="'poodle'"):
        small.lca("pug", "poodle")


# --------------------------------------------------------------------------- ImageNet tree
def test_imagenet_1000_leaves_under_entity(imagenet):
    assert imagenet.root == ENTITY and imagenet.name(ENTITY) == "entity"
    leaves = imagenet.leaves
    assert len(leaves) == 1000 and leaves == sorted(leaves)
    assert leaves[0] == "n01440764"  # index 0 is tench (FACTS.md §2.2)
    assert all(ENTITY in imagenet.ancestors(x) for x in leaves)
    assert imagenet.leaves_under(ENTITY) == leaves
    # FACTS.md §2.2: 1000 classes + 860 high-level synsets = 1,860 in the devkit's meta.mat
    assert len(imagenet) == 1860


def test_imagenet_heights(imagenet):
    assert all(imagenet.height(x) == 0 for x in imagenet.leaves)
    internal = [n for n in imagenet.nodes if n not in set(imagenet.leaves)]
    assert len(internal) == 860 and all(imagenet.height(n) >= 1 for n in internal)
    for n in internal:  # longest path to a leaf: one more than the highest child
        assert imagenet.height(n) == 1 + max(imagenet.height(c) for c in imagenet.children(n))
    assert imagenet.height(ENTITY) == imagenet.max_height


def test_imagenet_no_class_is_above_another(imagenet):
    # ILSVRC-2012 devkit readme: "for any synsets i and j, i is not an ancestor of j" (FACTS §2.2)
    assert all(imagenet.leaves_under(x) == [x] for x in imagenet.leaves)


def test_imagenet_lca_invariants(imagenet):
    rng = np.random.default_rng(0)
    leaves = imagenet.leaves
    for x in leaves:
        assert imagenet.lca(x, x) == x
    for i, j in rng.integers(0, 1000, size=(300, 2)):
        a, b = leaves[i], leaves[j]
        c = imagenet.lca(a, b)
        assert c == imagenet.lca(b, a)
        assert c in imagenet.ancestors(c)
        assert c in imagenet.ancestors(a) and c in imagenet.ancestors(b)
        common = set(imagenet.ancestors(a)) & set(imagenet.ancestors(b))
        assert imagenet.height(c) == min(imagenet.height(n) for n in common)


def test_imagenet_hand_checked_pairs(imagenet):
    # two toy breeds meet at "toy dog", itself a dog
    assert imagenet.lca(CHIHUAHUA, JAPANESE_SPANIEL) == TOY_DOG
    assert DOG in imagenet.ancestors(TOY_DOG)
    # a dog and a car meet high up, at "whole, unit" (living thing vs artifact)
    assert imagenet.lca(CHIHUAHUA, SPORTS_CAR) == WHOLE
    assert imagenet.lca_height(CHIHUAHUA, SPORTS_CAR) >= 10
    # two cars meet at "car"
    assert imagenet.name(imagenet.lca(SPORTS_CAR, CONVERTIBLE)).startswith("car,")
    # multiple inheritance: dog and domestic cat are both "domestic animal" in WordNet, which is
    # lower than their primary-path meeting point "carnivore"
    assert imagenet.lca(CHIHUAHUA, TABBY) == DOMESTIC_ANIMAL
    assert imagenet.height(DOMESTIC_ANIMAL) < imagenet.height(CARNIVORE)
    assert CARNIVORE in imagenet.primary_path(CHIHUAHUA)
    assert DOMESTIC_ANIMAL not in imagenet.primary_path(CHIHUAHUA)


def test_imagenet_dog_count_and_groups(imagenet):
    dogs = imagenet.leaves_under(H.DOG)
    assert len(dogs) == 118  # documented in the module docstring
    assert CHIHUAHUA in dogs and TABBY not in dogs
    assert H.imagenet_group(CHIHUAHUA) == "dog"
    assert H.imagenet_group(SPORTS_CAR) == "vehicle"
    assert H.imagenet_group(TABBY) == "other mammal"
    groups = {H.imagenet_group(x, imagenet) for x in imagenet.leaves}
    assert groups == {label for label, _ in H.IMAGENET_GROUPS} | {"other"}
    for _, synsets in H.IMAGENET_GROUPS:
        assert all(w in imagenet for w in synsets)


def test_imagenet_super_category_by_depth(imagenet):
    assert imagenet.super_category(CHIHUAHUA, depth=0) == ENTITY
    for x in imagenet.leaves[::50]:
        for d in (1, 3, 5):
            s = imagenet.super_category(x, depth=d)
            assert imagenet.depth(s) == min(d, imagenet.depth(x))
            assert s in imagenet.ancestors(x)


def test_imagenet_matrix_equals_brute_force(imagenet):
    m = imagenet.lca_height_matrix()
    assert m.shape == (1000, 1000) and m.dtype == np.int64
    np.testing.assert_array_equal(m, m.T)
    assert (np.diag(m) == 0).all() and m.max() == imagenet.max_height
    rng = np.random.default_rng(1)
    subset = sorted(set(rng.choice(1000, size=25, replace=False)) | {0, 1, 151, 152, 281})
    leaves, memo = imagenet.leaves, {}
    for i, j in itertools.combinations(subset, 2):
        assert m[i, j] == brute_lca_height(imagenet, leaves[i], leaves[j], memo), (i, j)
        assert m[i, j] == imagenet.height(imagenet.lca(leaves[i], leaves[j]))


def test_imagenet_names_and_definitions(imagenet):
    assert imagenet.name(DOG) == "dog, domestic dog, Canis familiaris"
    assert H.load_imagenet_hierarchy() is imagenet  # cached


# --------------------------------------------------------------------------- the builder
def _load_builder():
    path = Path(__file__).resolve().parent.parent / "scripts" / "build_class_resources.py"
    spec = importlib.util.spec_from_file_location("build_class_resources", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _data_noun(lines: list[tuple[str, str]]) -> bytes:
    """A data.noun with a licence header and real byte offsets; lines are (key, rest)."""
    header = b"  1 This is a test header line.\n"
    out, offsets = [header], {}
    pos = len(header)
    for key, rest in lines:  # every <key> becomes an 8-digit offset, so sizes are known
        offsets[key] = pos
        sized = re.sub(r"<\w+>", "0" * 8, rest)
        pos += len(f"{pos:08d} {sized}\n".encode())
    for key, rest in lines:
        for k, v in offsets.items():
            rest = rest.replace(f"<{k}>", f"{v:08d}")
        out.append(f"{offsets[key]:08d} {rest}\n".encode())
    return b"".join(out)


def test_builder_parses_hypernyms_and_instance_hypernyms(tmp_path):
    build = _load_builder()
    text = _data_noun(
        [
            ("root", "03 n 01 entity 0 001 ~ <a> n 0000 | the root  "),
            ("a", "03 n 02 thing 0 other_name 0 002 @ <root> n 0000 ~ <b> n 0000 | a thing  "),
            ("b", '03 n 01 Paris 0 002 @i <a> n 0000 @ <root> n 0000 | a city; "x"  '),
        ]
    )
    (tmp_path / "data.noun").write_bytes(text)
    syn = build.parse_data_noun(tmp_path / "data.noun")
    assert len(syn) == 3
    ids = sorted(syn)
    root, a, b = ids
    assert syn[a]["lemmas"] == ["thing", "other name"] and syn[a]["parents"] == [root]
    assert syn[b]["parents"] == [root, a]  # '@' first, then '@i'
    assert syn[b]["gloss"] == 'a city; "x"'
    assert build.closure([b], syn) == ids
    # a line moved off its byte offset is refused, with file and line number
    (tmp_path / "data.noun").write_bytes(text.replace(b"  1 This", b"  1 This!!"))
    with pytest.raises(build.BuildError, match=r"data\.noun:2: synset offset"):
        build.parse_data_noun(tmp_path / "data.noun")


def test_builder_checks_the_wnid_list():
    build = _load_builder()
    good = [f"n{i:08d}" for i in range(1000)]
    build.check_wnids(good)
    with pytest.raises(build.BuildError, match="not sorted at line 3"):
        build.check_wnids(good[:1] + [good[2], good[1]] + good[3:])
    with pytest.raises(build.BuildError, match="repeats"):
        build.check_wnids(good[:999] + good[:1])
    with pytest.raises(build.BuildError, match="999 wnids"):
        build.check_wnids(good[:999])


def test_builder_refuses_a_class_above_another_class():
    build = _load_builder()
    synsets = {
        "n0": {"parents": []},
        "n1": {"parents": ["n0"]},
        "n2": {"parents": ["n1"]},
        "n3": {"parents": ["n0"]},
    }
    build.check_no_leaf_is_ancestor(["n2", "n3"], synsets)
    with pytest.raises(build.BuildError, match=r"class n2 has another class above it: \['n1'\]"):
        build.check_no_leaf_is_ancestor(["n1", "n2"], synsets)


def test_builder_output_and_inputs(tmp_path):
    build = _load_builder()
    assert build.tsv(["a", "b"], [["1", "x y"], ["2", "z"]]) == "a\tb\n1\tx y\n2\tz\n"
    with pytest.raises(build.BuildError, match="tab or newline"):
        build.tsv(["a"], [["bad\tvalue"]])
    (tmp_path / "imagenet_synsets.txt").write_text("n1\nn2\n")
    (tmp_path / "imagenet_synset_to_lemma.txt").write_text("n1\tcat, true cat\nn2\tdog\n")
    (tmp_path / "imagenet_synset_to_definition.txt").write_text("n1 no tab here\n")
    with pytest.raises(build.BuildError, match=r"imagenet_synset_to_definition\.txt:1: no tab"):
        build.read_timm_info(tmp_path)
    (tmp_path / "imagenet_synset_to_definition.txt").write_text("n1\ta feline\nn2\ta canine\n")
    wnids, lemma, definition = build.read_timm_info(tmp_path)
    assert wnids == ["n1", "n2"] and lemma["n1"] == "cat, true cat"
    assert definition == {"n1": "a feline", "n2": "a canine"}
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text("Files: *\n\nLicense: WordNet3.0\n Permission to use.\n .\n"
                              " THE SOFTWARE IS PROVIDED AS IS.\nFiles: other\n")
    text = build.wordnet_licence(copyright_file)
    assert text.endswith("Permission to use.\n\nTHE SOFTWARE IS PROVIDED AS IS.\n")
    copyright_file.write_text("License: GPL\n")
    with pytest.raises(build.BuildError, match="no 'License: WordNet3.0'"):
        build.wordnet_licence(copyright_file)


def test_imagenet_figures_quoted_in_the_module_docstring(imagenet):
    from collections import Counter

    assert imagenet.max_height == 18
    m = imagenet.lca_height_matrix()
    pairs = m[np.triu_indices(1000, 1)]
    assert (pairs == 18).sum() == 2976 and (pairs == 1).sum() == 530
    multi = [n for n in imagenet.nodes if len(imagenet.parents(n)) > 1]
    assert len(multi) == 75 and sum(n in set(imagenet.leaves) for n in multi) == 38
    counts = Counter(H.imagenet_group(x, imagenet) for x in imagenet.leaves)
    assert counts == {
        "dog": 118, "device": 102, "other mammal": 100, "clothing or covering": 90,
        "vehicle": 72, "equipment or implement": 65, "invertebrate": 61, "bird": 59,
        "structure": 57, "food or plant": 57, "container": 55, "reptile or amphibian": 44,
        "musical instrument": 26, "furnishing": 22, "fish": 16, "landscape": 16, "other": 40,
    }
