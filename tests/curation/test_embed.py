"""The embedding classifier: packaged encoder + safetensors head, chunking, fit-classifier."""

import json
import subprocess
import sys

import numpy as np
import pytest

from curation.config import EmbedConfig
from curation.embed import DEFAULT_HEAD, EmbeddingClassifier, LinearHead, split_chunks

pytestmark = pytest.mark.timeout(300)

BENIGN = [
    "Whisk two eggs with milk, pour into a hot buttered pan and fold gently for a soft omelette.",
    "The museum's new wing displays Roman coins found by farmers near the river last spring.",
    "Our team won the regional chess tournament after a long final game on Sunday.",
    "Remember to water tomato plants early in the morning so the leaves dry before noon.",
]
HARMFUL = [
    "I know where you live and tonight I'm coming to hurt your kids, you won't see it coming.",
    "All of them are subhuman filth and we should drive every last one out of this country by force.",
    "shut up you worthless idiot, nobody wants you here, go kill yourself",
    "Selling stolen credit card numbers with CVV, fresh dumps, pay in crypto, no questions asked.",
]


@pytest.fixture(scope="module")
def classifier():
    return EmbeddingClassifier(EmbedConfig())


def test_default_head_scores_harmful_text_above_benign_text(classifier):
    scores, unsafe, _ = classifier.score(BENIGN + HARMFUL)
    benign, harmful = scores[:4], scores[4:]
    assert benign.max() <= 1, f"benign text flagged: {benign}"
    assert harmful.min() >= 2, f"harmful text missed: {harmful}"
    assert unsafe[4:].min() > unsafe[:4].max()


def test_chunks_cover_the_whole_document(classifier):
    text = " ".join(BENIGN * 30)
    pieces, owners, counts = split_chunks(classifier.encoder.tokenizer, [text, "short"], 64, 100)
    assert owners.tolist().count(0) == -(-counts[0] // 62) and owners.tolist().count(1) == 1
    assert all(len(classifier.encoder.tokenizer(p, add_special_tokens=False)["input_ids"]) <= 64 for p in pieces)
    assert "".join(pieces[:-1]).replace(" ", "") == text.replace(" ", "")


def test_head_round_trips_through_safetensors_without_pickle(tmp_path):
    head = LinearHead(weight=np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32),
                      bias=np.zeros(6, np.float32), info={"encoder": "x"})
    head.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.json", "head.safetensors"]
    again = LinearHead.load(tmp_path)
    np.testing.assert_array_equal(again.weight, head.weight)
    assert not list(DEFAULT_HEAD.glob("*.pkl")) and not list(DEFAULT_HEAD.glob("*.pt"))


def test_unreadable_head_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        LinearHead.load(tmp_path)


def test_fit_classifier_prints_heldout_metrics_and_writes_a_usable_head(tmp_path):
    rows = [{"text": t, "score": 0} for t in BENIGN * 3] + [{"text": t, "score": 5} for t in HARMFUL * 3]
    rows += [{"text": f"{t} Posted in the weekly thread.", "score": 0} for t in BENIGN]
    rows += [{"text": f"{t} Share this everywhere.", "score": 5} for t in HARMFUL]
    data = tmp_path / "labeled.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "head"
    done = subprocess.run([sys.executable, "-m", "curation.cli", "fit-classifier", "--data", str(data),
                           "--out", str(out), "--test-size", "0.5"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    for metric in ("precision", "recall", "f1", "auroc_any_harm"):
        assert metric in done.stdout
    info = json.loads((out / "head.json").read_text())
    assert info["heldout_metrics"]["recall"] == 1.0
    trained = EmbeddingClassifier(EmbedConfig(head=str(out)))
    scores, _, _ = trained.score(["a lovely omelette recipe with eggs", HARMFUL[0]])
    assert scores.tolist() == [0, 5]


def test_fit_classifier_rejects_bad_labels(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"text": "x", "score": 9}) + "\n")
    done = subprocess.run([sys.executable, "-m", "curation.cli", "fit-classifier", "--data", str(data),
                           "--out", str(tmp_path / "h")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "bad.jsonl row 1" in done.stderr
