"""The embedding half of the safety score: a sentence encoder plus a 6-way linear head over its embedding."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from curation.config import EmbedConfig
from curation.models.layer_delta import read_layers
from curation.models.lexical import LexicalHead
from curation.models.score_levels import (
    CLASSES,
    cumulative,
    decode_cumulative,
    decode_levels,
    documents_at_least,
    head_levels,
    softmax,
)

DEFAULT_HEAD = Path(__file__).parents[1] / "heads" / "default"
MPNET_HEAD = Path(__file__).parents[1] / "heads" / "mpnet"
ENCODER_TOP = "encoder_top.safetensors"
"""In a head folder: the encoder's fine-tuned top transformer layers (curation.fitting.tune), stored as their
difference from the packaged encoder's (curation.models.layer_delta), which they replace when the head scores; the
head was fitted on the embeddings they make."""


@dataclass
class LinearHead:
    """Softmax regression over embeddings: class k = safety score k (0 safe ... 5 highly unsafe)."""

    WRITER = "`safecurate fit-classifier`"  # named when a head folder is unreadable
    weight: np.ndarray  # (6, dim)
    bias: np.ndarray  # (6,)
    info: dict

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        return softmax(embeddings @ self.weight.T + self.bias)

    def scores(self, embeddings: np.ndarray, cumulative_threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
        """(score 0-5, probabilities) per row; see EmbedConfig.cumulative_threshold."""
        probs = self.probabilities(embeddings)
        return decode_scores(probs, cumulative_threshold), probs

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"weight": np.ascontiguousarray(self.weight, np.float32),  # sklearn's arrays are column-major
                   "bias": np.ascontiguousarray(self.bias, np.float32)},
                  str(folder / "head.safetensors"))
        (folder / "head.json").write_text(json.dumps(self.info, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> LinearHead:
        """The head in `folder` (head.safetensors + head.json), its shape checked by `check`."""
        folder = Path(folder)
        try:
            tensors = load_file(str(folder / "head.safetensors"))
            info = json.loads((folder / "head.json").read_text())
            head = cls(weight=tensors["weight"], bias=tensors["bias"], info=info)
        except (OSError, ValueError, KeyError) as exc:
            raise FileNotFoundError(f"classifier head {folder} is unreadable ({exc!r}); it needs head.safetensors "
                                    f"and head.json, as written by {cls.WRITER}") from None
        head.check(folder)
        return head

    def check(self, folder: Path) -> None:
        """Raise ValueError unless the weight has one row per score 0-5."""
        if self.weight.shape[0] != CLASSES or self.bias.shape != (CLASSES,):
            raise ValueError(f"classifier head {folder} has shape {self.weight.shape}, expected (6, dim)")


def decode_scores(probs: np.ndarray, cumulative_threshold: float | None) -> np.ndarray:
    """The highest k with P(score >= k) >= threshold, or the most likely class without one."""
    if cumulative_threshold is None:
        return probs.argmax(axis=1)
    return decode_cumulative(cumulative(probs), cumulative_threshold)


def torch_device(device: str) -> str:
    """`auto`: cuda when the device follows a reservation: in a Ray actor, when Ray gave it GPU ids (an actor
    that reserves none stays on cpu even on a GPU node, where Ray 2.60 leaves every GPU visible to it);
    elsewhere, when this process sees a GPU."""
    if device != "auto":
        return device
    import torch

    reserved = actor_gpu_ids()
    wanted = torch.cuda.is_available() if reserved is None else bool(reserved)
    return "cuda" if wanted and torch.cuda.is_available() else "cpu"


def actor_gpu_ids() -> list | None:
    """The GPU ids Ray reserved for this actor; None outside a Ray actor."""
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized() or ray.get_runtime_context().get_actor_id() is None:
        return None
    return ray.get_gpu_ids()


def head_folder(cfg: EmbedConfig) -> Path:
    """The head folder the config scores with: `cfg.head`, else the packaged head of `cfg.model`'s encoder (the
    default head for the packaged MiniLM or a local folder, MPNET_HEAD for the packaged all-mpnet-base-v2)."""
    from curation.models.packaged import MPNET

    return Path(cfg.head) if cfg.head else MPNET_HEAD if cfg.model == MPNET else DEFAULT_HEAD


def load_encoder(cfg: EmbedConfig, head: str | Path | None = None):
    """The sentence-transformers encoder named by the config, loaded from local disk only; with `head`, a head
    folder, its tuned top layers (ENCODER_TOP) in place of the encoder's own when it has them."""
    from sentence_transformers import SentenceTransformer

    from curation.models.packaged import encoder_dir

    encoder = SentenceTransformer(str(encoder_dir(cfg.model)), device=torch_device(cfg.device), local_files_only=True)
    encoder.max_seq_length = cfg.max_seq_length
    if head is not None and (Path(head) / ENCODER_TOP).is_file():
        stored = Path(head) / ENCODER_TOP
        set_layers(encoder, read_layers(stored, NumpyView(encoder[0].auto_model.state_dict())), stored)
    return encoder


class NumpyView(Mapping):
    """A torch state dict read as float32 numpy arrays, each converted when it is looked up: the tuned layers are
    laid over a few of the encoder's parameters, so the rest are never copied."""

    def __init__(self, state: Mapping):
        self.state = state

    def __getitem__(self, name: str) -> np.ndarray:
        return self.state[name].detach().float().cpu().numpy()

    def __iter__(self):
        return iter(self.state)

    def __len__(self) -> int:
        return len(self.state)


def set_layers(encoder, tensors: dict[str, np.ndarray], origin: str | Path = "tuned layers") -> None:
    """Replace parameters of a sentence-transformers `encoder`'s transformer by `tensors` (named as in its state
    dict); every name must exist there with the same shape."""
    import torch

    model = encoder[0].auto_model
    own = model.state_dict()
    wrong = sorted(k for k, v in tensors.items() if k not in own or tuple(own[k].shape) != tuple(v.shape))
    if wrong:
        raise ValueError(f"{origin} does not fit the encoder ({', '.join(wrong[:3])} ...): it was tuned for "
                         "another encoder (scoring.embed.model)")
    model.load_state_dict({k: torch.as_tensor(np.asarray(v), dtype=own[k].dtype) for k, v in tensors.items()},
                          strict=False)


SENTENCE_END = re.compile(r"(?<=[.!?\u2026}>\]])[\"')\]]*\s+|\n+")


def _cut(text: str, offsets: list, size: int) -> list[tuple[str, int]]:
    """`text` (whose tokens have `offsets`) cut at token edges into pieces of at most `size` tokens."""
    return [(text[offsets[start][0]:offsets[min(start + size, len(offsets)) - 1][1]], min(size, len(offsets) - start))
            for start in range(0, len(offsets), size)]


def split_windows(tokenizer, texts: list[str], chunk_tokens: int, window_tokens: int, max_chunks: int,
                  edge_paragraphs: int):
    """The pieces a document is scored on: near-equal chunks of at most `chunk_tokens` encoder tokens and, with
    `window_tokens` > 0, windows that text around a harmful passage cannot dilute (see `_windows`). Only the first
    `max_chunks` chunks' worth of text is read; a piece that repeats another of its document is scored once.

    Returns the pieces, the index of the text each piece belongs to, and each text's token count.
    """
    window = max(1, chunk_tokens - 2)  # room for [CLS] and [SEP]
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False, verbose=False)
    pieces, owners, counts = [], [], []
    for i, (text, offsets) in enumerate(zip(texts, encoded["offset_mapping"], strict=True)):
        counts.append(len(offsets))
        if len(offsets) > window * max_chunks:
            offsets = offsets[:window * max_chunks]
            text = text[:offsets[-1][1]]
        document = [piece for piece, _ in _chunks(text, offsets, window)]
        if window_tokens > 0:
            document += _windows(tokenizer, text, window, window_tokens, edge_paragraphs)
        unique = list(dict.fromkeys(p for p in document if p.strip())) or [text]
        pieces += unique
        owners += [i] * len(unique)
    return pieces, np.asarray(owners, dtype=np.int64), counts


def split_documents(tokenizer, texts: list[str], cfg: EmbedConfig):
    """`split_windows` with the sizes `cfg` sets: the pieces the pipeline scores documents on."""
    return split_windows(tokenizer, texts, cfg.max_seq_length, cfg.window_tokens, cfg.max_chunks,
                         cfg.edge_paragraphs)


PARAGRAPH_END = re.compile(r"\n\s*\n")
EDGE_SENTENCES = 3
"""A short paragraph near either end of a document is also scored without up to this many of its first (last)
sentences; the document's first paragraph without up to twice as many first sentences."""


def _chunks(text: str, offsets: list, size: int) -> list[tuple[str, int]]:
    """Near-equal pieces of at most `size` tokens: no few-token tail."""
    if not offsets:
        return [(text, 0)]
    count = -(-len(offsets) // size)
    return _cut(text, offsets, -(-len(offsets) // count))


def _windows(tokenizer, text: str, chunk: int, window_tokens: int, edge_paragraphs: int) -> list[str]:
    """Each paragraph (when there are several), its sentences packed into windows of at most `window_tokens`, and
    the edge pieces of a short paragraph (at most 2 x `window_tokens` tokens) near either end: without its first
    (last) 1..EDGE_SENTENCES sentences. The set does not shift when text is put around a harmful passage: up to
    `edge_paragraphs` - 1 paragraphs put before (after) it leave its edge pieces in place, and an instruction of up to
    EDGE_SENTENCES sentences run into its first paragraph is dropped whole before the passage's own drops begin
    (twice as many drops there)."""
    paragraphs = [p.strip() for p in PARAGRAPH_END.split(text) if p.strip()]
    encoded = tokenizer(paragraphs, add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False, verbose=False)["offset_mapping"] if paragraphs else []
    out = []
    last = len(paragraphs) - 1
    for number, (paragraph, offsets) in enumerate(zip(paragraphs, encoded, strict=True)):
        sentences = [s.strip() for s in SENTENCE_END.split(paragraph) if s and s.strip()]
        packed = _pack(tokenizer, sentences, max(1, window_tokens - 2))
        if len(paragraphs) > 1 and len(packed) > 1:  # a paragraph in one window is that window already
            out += [piece for piece, _ in _chunks(paragraph, offsets, chunk)]
        out += packed
        if len(sentences) < 2 or len(offsets) > 2 * window_tokens:
            continue
        if number < edge_paragraphs:  # text put in front of it
            drops = range(1, min(EDGE_SENTENCES * (2 if number == 0 else 1), len(sentences) - 1) + 1)
            out += [" ".join(sentences[k:]) for k in drops]
        if number > last - edge_paragraphs:  # text put after it
            drops = range(1, min(EDGE_SENTENCES, len(sentences) - 1) + 1)
            out += [" ".join(sentences[:-k]) for k in drops]
    return out


def _pack(tokenizer, sentences: list[str], size: int) -> list[str]:
    """Consecutive sentences joined into windows of at most `size` tokens (a longer sentence is cut)."""
    lengths = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False, return_attention_mask=False,
                                             verbose=False)["input_ids"]]
    windows, current, used = [], [], 0
    for sentence, length in zip(sentences, lengths, strict=True):
        if current and used + length > size:
            windows.append(" ".join(current))
            current, used = [], 0
        if length > size:
            offsets = tokenizer(sentence, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            windows += [piece for piece, _ in _cut(sentence, offsets, size)]
            continue
        current.append(sentence)
        used += length
    if current:
        windows.append(" ".join(current))
    return windows


class EmbeddingClassifier:
    """Scores documents 0-5 from the pieces `split_windows` cuts them into.

    The encoder is `cfg.model` (the packaged MiniLM by default) with the head folder's tuned top layers when it
    has them (ENCODER_TOP). Each piece gets a 6-way distribution: the encoder head's, blended with the lexical
    head's when the head folder has one (weight `encoder_weight` of head.json). A document's P(score >= k) is the
    max over its pieces, and its score is decoded from them as the head's head.json says (`head_levels`: one
    threshold per level, confident levels, what gives level 1).
    """

    def __init__(self, cfg: EmbedConfig, batch_size: int = 64, encoder=None, heads=None):
        """`encoder`: a loaded sentence-transformers model to use instead of loading `cfg.model` with the head
        folder's tuned layers; `heads`: (LinearHead, LexicalHead or None) to use instead of loading `cfg.head`."""
        self.cfg = cfg
        self.batch_size = batch_size
        self.folder = folder = head_folder(cfg)
        if folder == MPNET_HEAD and not (folder / "head.json").is_file():
            raise FileNotFoundError(f"scoring.embed.model={cfg.model} scores with the head {folder}, which is built "
                                    "by `make head-mpnet RAW=folder` (or name a head folder in scoring.embed.head)")
        self.tuned = (folder / ENCODER_TOP).is_file()  # then `encoder` is not the packaged one
        self.encoder = encoder if encoder is not None else load_encoder(cfg, folder)
        if heads is None:
            heads = LinearHead.load(folder), LexicalHead.load(folder) if cfg.lexical else None
        self.head, self.lexical = heads[0], heads[1] if cfg.lexical else None
        dim = self.encoder.get_embedding_dimension()
        if self.head.weight.shape[1] != dim:
            raise ValueError(f"classifier head expects {self.head.weight.shape[1]}-d embeddings, "
                             f"the encoder gives {dim}-d: train a head for this encoder")
        self.encoder_weight = float(self.head.info.get("encoder_weight", 1.0)) if self.lexical else 1.0
        self.levels = head_levels(self.head.info, cfg.cumulative_threshold)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   show_progress_bar=False)

    def probabilities(self, pieces: list[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """The 6-way distribution of each piece (embeddings computed unless given)."""
        if not pieces:
            return np.zeros((0, CLASSES))
        probs = self.head.probabilities(self.embed(pieces) if embeddings is None else embeddings)
        if self.lexical is not None:
            probs = self.encoder_weight * probs + (1.0 - self.encoder_weight) * self.lexical.probabilities(pieces)
        return probs

    def score(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(score per text, P(score >= 2) per text, token count per text)."""
        pieces, owners, counts = split_documents(self.encoder.tokenizer, texts, self.cfg)
        at_least = documents_at_least(self.probabilities(pieces), owners, len(texts))
        return decode_levels(at_least, self.levels), at_least[:, 2], counts
