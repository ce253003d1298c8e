"""Mixtures of curated sources: which documents each source takes, weights, tags, splits, the report."""

from collections import Counter

import pytest

from curation.markers import HARM_TAG
from training.config import TrainConfig
from training.mixture import is_validation, mixture_documents, mixture_report

SAFE = "Knead the dough, let it rise for an hour, then bake the loaf until golden and let it cool."
UNSAFE = "Wait for him behind the school and hit him until he cannot stand, then take his phone and run."


def scored_rows(n: int = 40):
    return [(f"d{i}", f"{SAFE if i % 2 else UNSAFE} ({i})", 0 if i % 2 else 4) for i in range(n)]


def texts(out, **mixture):
    return [d.text for d in mixture_documents(out, TrainConfig(mixture=mixture))]


def test_each_source_takes_its_documents(curated):
    out = curated("s0", [("a", SAFE, 0), ("b", "mild words", 1), ("c", UNSAFE, 5)],
                  {"safeweb": ["rewritten"], "refuseweb": ["User: x\nAssistant: no"], "moral_education": ["# Why"],
                   "reflections": [f"{SAFE} <reflection>Safe</reflection>"]})
    assert texts(out, raw=1) == [SAFE, "mild words", UNSAFE]
    assert texts(out, score0=1) == [SAFE]
    assert [t.replace(HARM_TAG, "") for t in texts(out, unsafe_tagged=1)] == [UNSAFE]  # threshold 2
    assert [t.replace(HARM_TAG, "") for t in texts(out, raw_tagged=1)] == [SAFE, "mild words", UNSAFE]
    assert texts(out, safeweb=1, refuseweb=1, moral_education=1, reflections=1) == [
        "rewritten", "User: x\nAssistant: no", "# Why", f"{SAFE} <reflection>Safe</reflection>"]


def test_only_unsafe_text_gets_tags_and_the_rate_follows_p(curated):
    long_unsafe = " ".join(["hit"] * 20_000)
    out = curated("s0", [("safe", " ".join(["bread"] * 20_000), 0), ("unsafe", long_unsafe, 3)])
    cfg = TrainConfig(mixture={"raw_tagged": 1}, tags={"threshold": 2, "p": 0.05})
    safe, unsafe = (d.text for d in mixture_documents(out, cfg))
    assert HARM_TAG not in safe
    assert abs(unsafe.count(HARM_TAG) / 19_999 - 0.05) < 0.005


def test_weights_repeat_or_sample_documents_with_a_seed(curated):
    out = curated("s0", [(f"d{i}", f"text {i}", 0) for i in range(400)])
    assert Counter(texts(out, score0=2)) == {f"text {i}": 2 for i in range(400)}
    half = texts(out, score0=0.5)
    assert 160 < len(half) < 240 and half == texts(out, score0=0.5)
    assert texts(out, score0=0) == []


def test_only_committed_shards_are_read(curated, tmp_path):
    out = curated("done", [("a", SAFE, 0)])
    curated("half-written", [("b", UNSAFE, 0)], commit=False)
    assert texts(out, raw=1) == [SAFE]
    with pytest.raises(FileNotFoundError, match="no committed shard"):
        list(mixture_documents(tmp_path / "empty", TrainConfig()))


def test_the_report_counts_tokens_per_source_and_keeps_validation_apart(curated):
    out = curated("s0", scored_rows(200), {"safeweb": ["a safe rewrite of it"] * 50})
    cfg = TrainConfig(mixture={"score0": 1, "safeweb": 1, "unsafe_tagged": 1}, data={"val_fraction": 0.1})
    report = mixture_report(out, cfg, lambda text: text.split())
    sources = report["sources"]
    docs = list(mixture_documents(out, cfg))
    for source in ("score0", "safeweb", "unsafe_tagged"):
        mine = [d for d in docs if d.source == source]
        train = [d for d in mine if not is_validation(d.key, cfg)]
        assert sources[source]["train_documents"] == len(train) > 0
        assert sources[source]["train_tokens"] == sum(len(d.text.split()) + 1 for d in train)
        assert sources[source]["validation_documents"] == len(mine) - len(train)
    assert report["train_tokens"] == sum(row["train_tokens"] for row in sources.values())
    assert sum(row["share"] for row in sources.values()) == pytest.approx(1.0)
    assert sources["unsafe_tagged"]["tags"] > 0 and sources["score0"]["tags"] == 0
    assert 0 < report["validation_tokens"] < report["train_tokens"]
