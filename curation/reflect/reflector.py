"""Safety reflections (Li et al., 2026): after every few hundred tokens of a document, a label of what came before.

The format (ours; the paper's is unpublished). A document is cut into consecutive segments of about
`reflections.segment_tokens` encoder tokens, only at sentence ends (`.`, `!`, `?`, optionally followed
by closing quotes or brackets, then whitespace) or line breaks, preferring a paragraph's end when one lies
past half the target. A sentence longer than the target is a segment of its own; one longer than twice
the target is cut at token edges into near-equal pieces; a last bit under a quarter of the target joins
the segment before it.
Right after each segment's last non-space character comes one reflection, before the whitespace that
followed it:

    Whisk the eggs with milk. <reflection>Safe</reflection> I know where you live and tonight
    I am coming for you. <reflection>Unsafe: violent crimes</reflection>

`Safe` when the segment's score (the score head of curation.models.encoder, decoded as EmbeddingClassifier does,
max over the segment's encoder chunks) is below `reflections.unsafe_threshold`; otherwise `Unsafe: `
and the category head's label (curation.models.categories) with spaces for underscores. Deleting every
` <reflection>...</reflection>` (`strip_reflections`) gives back the document exactly.

`REFLECTION_OPEN` and `REFLECTION_CLOSE` become special tokens at training time, so a document must not
be able to write them itself: before segmenting, every `<reflection>` / `</reflection>` already in the
text (any letter case) gets a zero-width space before its `>` (`<reflection` U+200B `>`), which reads the same
and tokenizes as plain text. Only reflections written here carry the real markers.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

from curation.config import ReflectionConfig
from curation.markers import REFLECTION_CLOSE, REFLECTION_OPEN
from curation.models.categories import CATEGORY, CATEGORY_HEAD, CategoryHead, readable
from curation.models.encoder import EmbeddingClassifier, split_windows
from curation.models.score_levels import cumulative, decode_levels

log = logging.getLogger("safecurate")

SAFE = "Safe"
UNSAFE = "Unsafe"

_SENTENCE_END = re.compile(r"""[.!?]+["'”’»)\]]*\s+|\s*\n\s*""")
REFLECTION_MARKER = re.compile(r"<(/?reflection)>", re.IGNORECASE)
_REFLECTION = re.compile(" " + re.escape(REFLECTION_OPEN) + r"[^<]*" + re.escape(REFLECTION_CLOSE))


def reflection(category: str | None) -> str:
    """The text inserted after a segment: Safe for None, else `Unsafe: <readable category>`."""
    label = SAFE if category is None else f"{UNSAFE}: {readable(category)}"
    return f" {REFLECTION_OPEN}{label}{REFLECTION_CLOSE}"


def defuse_reflection_markers(text: str) -> str:
    """Defuse reflection markers written by the document itself (a zero-width space before `>`)."""
    return REFLECTION_MARKER.sub("<\\1\u200b>", text)


def strip_reflections(text: str) -> str:
    """Remove inserted reflections: the inverse of Reflector.annotate up to `defuse_reflection_markers`."""
    return _REFLECTION.sub("", text)


def _sentences(text: str) -> list[str]:
    """Sentences with the whitespace after them (leading whitespace stays with the first one)."""
    first = len(text) - len(text.lstrip())
    cuts = [m.end() for m in _SENTENCE_END.finditer(text) if first < m.end() < len(text)]
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _cut_at_tokens(text: str, offsets: list[tuple[int, int]], target_tokens: int) -> list[str]:
    """Near-equal pieces of at most target_tokens tokens; each cut falls just before a token."""
    step = math.ceil(len(offsets) / math.ceil(len(offsets) / target_tokens))
    bounds = [0] + [offsets[i][0] for i in range(step, len(offsets), step)] + [len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _cut_point(current: list[tuple[str, int]], target_tokens: int) -> int:
    """How many sentences of a full segment to close it with: up to its last line break that leaves at
    least half the target before it, else all of them."""
    cut, size = len(current), 0
    for i, (sentence, tokens) in enumerate(current[:-1]):
        size += tokens
        if size >= target_tokens / 2 and "\n" in sentence[len(sentence.rstrip()):]:
            cut = i + 1
    return cut


def segment(text: str, tokenizer, target_tokens: int) -> list[str]:
    """Consecutive segments of about target_tokens tokens, cut at sentence ends; "".join gives `text`.

    Sentences are packed while the segment stays within the target; a full segment closes at its last
    paragraph (line) break when that keeps it above half the target. A last segment under a quarter
    of the target joins the one before it.
    """
    sentences = _sentences(text)
    if not sentences:
        return []
    encoded = tokenizer(sentences, add_special_tokens=False, return_offsets_mapping=True,
                        return_attention_mask=False, verbose=False)
    segments: list[str] = []
    current: list[tuple[str, int]] = []  # the open segment: (sentence, its token count)
    for sentence, offsets in zip(sentences, encoded["offset_mapping"], strict=True):
        while current and sum(tokens for _, tokens in current) + len(offsets) > target_tokens:
            cut = _cut_point(current, target_tokens)
            segments.append("".join(s for s, _ in current[:cut]))
            current = current[cut:]
        if len(offsets) > 2 * target_tokens:
            segments.extend(_cut_at_tokens(sentence, offsets, target_tokens))
        else:  # a sentence above the target stays alone: the next one finds the segment full
            current.append((sentence, len(offsets)))
    if current:
        tail = "".join(s for s, _ in current)
        if segments and sum(tokens for _, tokens in current) < target_tokens / 4:
            segments[-1] += tail
        else:
            segments.append(tail)
    return segments


class Reflector:
    """Inserts a Safe/Unsafe reflection after each segment, scored by an EmbeddingClassifier's encoder and head."""

    def __init__(self, classifier: EmbeddingClassifier, cfg: ReflectionConfig,
                 category_head: CategoryHead | str | Path | None = None):
        self.classifier = classifier
        self.cfg = cfg
        if not isinstance(category_head, CategoryHead):
            own = classifier.folder / CATEGORY  # a head folder may carry the category head fitted on its encoder
            category_head = CategoryHead.load(category_head or (own if own.is_dir() else CATEGORY_HEAD))
        self.categories = category_head
        if category_head.weight.shape[1] != classifier.head.weight.shape[1]:
            raise ValueError(f"category head expects {category_head.weight.shape[1]}-d embeddings, the encoder "
                             f"gives {classifier.head.weight.shape[1]}-d: retrain it for this encoder "
                             "with `python -m curation.fitting.categories`")
        fitted_on = category_head.info.get("tuned_layers_of")  # None: the packaged encoder's own layers
        scoring = classifier.folder.name if classifier.tuned else None
        if fitted_on != scoring:
            log.warning("the category head was fitted on embeddings of the encoder %s, the classifier scores with "
                        "%s: categories may be wrong until `python -m curation.fitting.categories` refits it",
                        f"with the tuned layers of {fitted_on}" if fitted_on else "without tuned layers",
                        f"the tuned layers of {scoring}" if scoring else "no tuned layers")

    def annotate(self, texts: list[str]) -> list[tuple[str, int, int]]:
        """Per document: (text with reflections, segments, unsafe segments); one encode call for the batch.

        Reflection markers already in a text are defused first (see `defuse_reflection_markers`); a blank text
        gets none.
        """
        tokenizer = self.classifier.encoder.tokenizer
        texts = [defuse_reflection_markers(text) for text in texts]
        documents = [segment(text, tokenizer, self.cfg.segment_tokens) if text.strip() else [] for text in texts]
        labels = iter(self.label([s for segments in documents for s in segments]))
        out = []
        for text, segments in zip(texts, documents, strict=True):
            if not segments:
                out.append((text, 0, 0))
                continue
            parts, unsafe = [], 0
            for seg in segments:
                category = next(labels)
                body = seg.rstrip()
                parts.append(body + reflection(category) + seg[len(body):])
                unsafe += category is not None
            out.append(("".join(parts), len(segments), unsafe))
        return out

    def label(self, segments: list[str]) -> list[str | None]:
        """None (Safe) or the harm category of each segment. A segment longer than the encoder window takes
        the max score over its chunks and the category of its most harmful chunk."""
        if not segments:
            return []
        pieces, owners = self._chunks(segments)
        embeddings = self.classifier.embed(pieces)
        at_least = cumulative(self.classifier.probabilities(pieces, embeddings))
        scores = decode_levels(at_least, self.classifier.levels)
        worst: dict[int, int] = {}  # segment -> its chunk with the highest (score, P(score >= 1))
        for chunk, owner in enumerate(owners):
            best = worst.get(owner)
            if best is None or (scores[chunk], at_least[chunk, 1]) > (scores[best], at_least[best, 1]):
                worst[owner] = chunk
        flagged = [s for s in range(len(segments)) if scores[worst[s]] >= self.cfg.unsafe_threshold]
        categories = self.categories.predict(embeddings[[worst[s] for s in flagged]])
        labels: list[str | None] = [None] * len(segments)
        for s, category in zip(flagged, categories, strict=True):
            labels[s] = category
        return labels

    def _chunks(self, segments: list[str]) -> tuple[list[str], list[int]]:
        """Each segment whole if it fits the encoder window, else cut into near-equal chunks that do (up to
        max_chunks): the chunks EmbeddingClassifier scores a document on, without its dilution windows."""
        cfg = self.classifier.cfg
        pieces, owners, _ = split_windows(self.classifier.encoder.tokenizer, segments, cfg.max_seq_length,
                                          window_tokens=0, max_chunks=cfg.max_chunks, edge_paragraphs=0)
        return pieces, owners.tolist()
