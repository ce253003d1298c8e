"""Harmful n-gram counting: the infini-gram index agrees with a brute-force scan, on tiny and larger slices."""

import json
import random

import pytest

from curation.report.ngrams import (
    build_index,
    count_brute_force,
    count_with_index,
    load_categories,
    ngram_card,
    project_tokenizer,
    slice_rates,
    tokenize,
)

pytestmark = pytest.mark.timeout(300)

HARMFUL = ["I will kill you", "kill yourself", "make a pipe bomb", "free porn", "dox him", "rm -rf"]
FILLER = ["the weather is mild today", "our team won the match", "bake the bread for forty minutes",
          "the council met on Tuesday", "she planted tomatoes", "a quiet walk by the river"]


@pytest.fixture(scope="module")
def tokenizer():
    return project_tokenizer()


@pytest.fixture(scope="module")
def categories(tokenizer):
    return load_categories(tokenizer)


def corpus(n_docs: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        words = [rng.choice(FILLER + HARMFUL * (rng.random() < 0.3)) for _ in range(rng.randint(1, 12))]
        sentence = ". ".join(words)
        docs.append(sentence[:1].upper() + sentence[1:] + rng.choice(["", ".", "!\n\nAnd so on."]))
    return docs


@pytest.mark.parametrize(("n_docs", "cpus"), [(1, 1), (40, 1), (6000, 2)])
def test_index_counts_equal_a_brute_force_scan(tokenizer, categories, tmp_path, n_docs, cpus):
    docs = tokenize(tokenizer, corpus(n_docs, seed=n_docs))
    folder = build_index(docs, tmp_path / "index", cpus=cpus)  # 6000 docs: large enough for 2 CPUs
    assert count_with_index(folder, categories, tokenizer.eos_token_id) == count_brute_force(docs, categories)


def test_a_query_counts_at_a_document_start_after_a_line_break_and_capitalised(tokenizer, categories):
    texts = ["Kill yourself", "fine.\nKill yourself now", "you should   kill yourself", "skill yourself"]
    rates = slice_rates(texts, categories, tokenizer)
    assert rates["hits"]["suicide_self_harm"] == 3
    assert rates["documents"] == 4 and rates["tokens"] > 0
    assert rates["per_million"]["suicide_self_harm"] == round(3e6 / rates["tokens"], 2)
    assert sum(rates["hits"].values()) == 3  # nothing else in these texts


def test_an_empty_slice_has_no_tokens_and_zero_rates(tokenizer, categories):
    rates = slice_rates([], categories, tokenizer)
    assert rates["tokens"] == 0 and set(rates["per_million"].values()) == {0.0}


def test_every_list_has_its_rule_and_about_fifty_queries(categories):
    assert len(categories) == 14
    assert all(40 <= len(c.queries) <= 60 for c in categories)
    every = [q for c in categories for q in c.queries]
    assert len(every) == len(set(every))


def test_a_card_has_every_slice_and_custom_lists_replace_the_packaged_ones(tmp_path):
    lists = tmp_path / "lists.json"
    lists.write_text(json.dumps({"version": 1, "rule": "test", "categories": {
        "weather": {"label": "Weather", "rule": "weather words", "queries": ["mild today", "heavy rain"]}}}))
    card = ngram_card({"raw_0": ["The weather is mild today.", "Heavy rain, mild today"], "safeweb": []}, str(lists))
    assert card["categories"] == {"weather": "Weather"} and card["queries"] == 2
    assert card["slices"]["raw_0"]["hits"] == {"weather": 3}
    assert card["slices"]["safeweb"]["tokens"] == 0
