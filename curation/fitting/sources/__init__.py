"""Public labeled sources for the safety classifier: one small module per source, each mapped onto the 0-5 rubric.

A source module names where its files come from and how its labels map, and `load(root)` reads them from a
folder laid out as `root/<owner>+<repo>/<path in the repository>` (the files exactly as the repository has
them). Nothing here downloads anything: `make head` reads a folder that was filled beforehand.
"""

from __future__ import annotations

import csv
import importlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Kind = Literal["user_text", "web_text", "prompts"]


@dataclass(frozen=True)
class Row:
    text: str
    score: int
    """0 safe ... 5 highly unsafe, as in the rubric."""
    label: str
    """The source's own label the score came from."""


@dataclass(frozen=True)
class Source:
    name: str
    repo: str
    files: tuple[str, ...]
    license: str
    kind: Kind
    mapping: str
    """How the source's labels become 0-5 scores, in one or two sentences."""
    commit: str = ""
    """The commit to take the files from when the repository's newest one no longer holds them as read."""
    folders: tuple[str, ...] = ()
    """Folders read whole besides `files` (a source whose rows are one file each)."""

    def path(self, root: Path, file: str) -> Path:
        return Path(root) / self.repo.replace("/", "+") / file

    def available(self, root: Path) -> bool:
        return (all(self.path(root, f).is_file() for f in self.files)
                and all(self.path(root, f).is_dir() for f in self.folders))

    def load(self, root: Path) -> list[Row]:
        return importlib.import_module(f"{__name__}.{self.name}").load(self, Path(root))


def csv_records(source: Source, root: Path, file: str | None = None, **reader: Any) -> Iterator[dict[str, str]]:
    """The records of one of the source's CSV files (its first by default); `reader` goes to csv.DictReader."""
    with open(source.path(root, source.files[0] if file is None else file), encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle, **reader)


def text_lines(source: Source, root: Path, file: str) -> list[str]:
    """The lines of one of the source's text files."""
    return source.path(root, file).read_text(encoding="utf-8").splitlines()


def jsonl_records(source: Source, root: Path, file: str) -> Iterator[Any]:
    """The objects of one of the source's JSON-lines files, blank lines skipped."""
    return (json.loads(line) for line in text_lines(source, root, file) if line.strip())


def unique_rows(rows: Iterable[Row]) -> list[Row]:
    """The rows with their text stripped, less those shorter than 8 characters and later repeats of a text, in order."""
    kept, seen = [], set()
    for row in rows:
        text = row.text.strip()
        if len(text) < 8 or text in seen:
            continue
        seen.add(text)
        kept.append(Row(text, row.score, row.label))
    return kept


def sample_per_label(pairs: Iterable[tuple[str, str]], per_label: int, min_chars: int) -> list[Row]:
    """Safe rows (score 0) from (text, label) pairs: of the texts of at least `min_chars` characters (stripped), each
    label's first distinct ones, then a seeded sample of up to `per_label` of them per label, labels in sorted order."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for text, label in pairs:
        if len(text.strip()) >= min_chars and text not in by_label[label]:
            by_label[label].append(text)
    rng = random.Random(0)
    return unique_rows(Row(text, 0, label) for label in sorted(by_label)
                       for text in rng.sample(by_label[label], min(per_label, len(by_label[label]))))


MODULES = ("davidson", "toxigen", "ailuminate", "jigsaw_sample", "ethos", "hatecheck", "stormfront", "surge_toxicity",
           "convabuse", "paradetox", "do_not_answer", "simple_safety_tests", "harmbench", "self_instruct", "mt_bench",
           "arena_hard", "gsm8k", "clinc_oos", "counsel_chat", "jailbreakbench", "wikitext", "edos", "reddit_misogyny",
           "coconot", "forbidden_questions", "strongreject", "catqa", "open_assistant", "banking77")


UNSEEN = ("or_bench", "phtest", "hatexplain", "crowdcounter", "medquad", "webquestions")
"""Sources kept out of the training table: `make unseen` (benchmarks/unseen.py) scores the packaged classifier on
them as it ships, so their figures are taken on text that no head, tuned layer or threshold was fitted to. A source
moved into MODULES leaves this list."""


def all_sources() -> list[Source]:
    """Every source the training table is built from, in a fixed order."""
    return [_source(name) for name in MODULES]


def unseen_sources() -> list[Source]:
    """The sources only ever scored, never trained on (UNSEEN)."""
    return [_source(name) for name in UNSEEN]


def _source(name: str) -> Source:
    return importlib.import_module(f"{__name__}.{name}").SOURCE
