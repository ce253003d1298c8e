"""Harmfulness-tag injection follows the paper's Algorithm 2."""

import random

import pytest

from curation.markers import HARM_TAG
from training.tags import inject_tags, tag_document

WORDS = [f"word{i % 97}" for i in range(100_000)]
TEXT = " ".join(WORDS)


@pytest.mark.parametrize("p", [0.03, 0.05, 0.10])
def test_tags_appear_before_a_fraction_p_of_the_words_after_the_first(p):
    tagged = inject_tags(TEXT, p, random.Random(0))
    rate = tagged.count(HARM_TAG) / (len(WORDS) - 1)
    assert abs(rate - p) < 0.1 * p  # 100k words: the standard error is ~2% of p at p=0.05
    assert tagged.replace(HARM_TAG, "") == TEXT  # only tags were added


def test_the_first_word_is_never_preceded_by_a_tag_and_tags_sit_between_words():
    for seed in range(200):
        tagged = inject_tags("  alpha beta\tgamma\n delta", 1.0, random.Random(seed))
        assert tagged == f"  alpha{HARM_TAG} beta{HARM_TAG}\tgamma{HARM_TAG}\n delta"
        assert not inject_tags("alpha beta", 0.5, random.Random(seed)).startswith(HARM_TAG)
    assert inject_tags("alone", 1.0, random.Random(0)) == "alone"


def test_safe_text_is_never_tagged_and_unscored_text_counts_as_safe():
    for score in (0, 1):
        assert tag_document(TEXT, score, "doc", threshold=2, p=1.0, seed=0) == TEXT
    assert tag_document(TEXT, None, "doc", threshold=2, p=1.0, seed=0) == TEXT
    assert HARM_TAG in tag_document(TEXT, 2, "doc", threshold=2, p=0.05, seed=0)


def test_the_same_seed_and_document_give_the_same_tags_in_any_order():
    first = tag_document(TEXT, 5, "doc-1", threshold=2, p=0.05, seed=3)
    tag_document(TEXT, 5, "doc-2", threshold=2, p=0.05, seed=3)  # other documents in between change nothing
    assert tag_document(TEXT, 5, "doc-1", threshold=2, p=0.05, seed=3) == first
    assert tag_document(TEXT, 5, "doc-1", threshold=2, p=0.05, seed=4) != first
    assert tag_document(TEXT, 5, "doc-2", threshold=2, p=0.05, seed=3) != first


def test_a_probability_outside_zero_to_one_is_an_error():
    with pytest.raises(ValueError, match="within"):
        inject_tags(TEXT, 1.5, random.Random(0))
