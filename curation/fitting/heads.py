"""Fitting the default classifier: an encoder head and a lexical head on the training table, and the same heads
fitted without each source (or fold of whole sources) for the choices made out of source
(curation.fitting.held_out, curation.fitting.choose).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.fitting.classifier import fit_softmax
from curation.models.encoder import LinearHead
from curation.models.lexical import LexicalHead, fit_idf, tfidf

MAX_ITER = 500
"""lbfgs iterations per head fit (17 out-of-source fits of a 262,144-bucket lexical head must stay minutes)."""


@dataclass(frozen=True)
class FitSettings:
    unsafe_weight: float = 2.0
    """lambda: rows with score > 0 weigh this much more (the paper up-weights unsafe classes for recall)."""
    encoder_c: float = 1.0
    """Inverse L2 regularisation of the encoder head."""
    lexical_c: float = 4.0
    """Inverse L2 regularisation of the lexical head."""
    buckets: int = 2 ** 18
    """Hash buckets of the lexical head's n-grams."""
    seed: int = 0
    tune_layers: int = 0
    """Top encoder layers fine-tuned with the encoder head (curation.fitting.tune); 0 keeps the encoder frozen."""
    tune_epochs: float = 2.0
    tune_rate: float = 1e-4
    """Learning rate of the tuned layers (the head's is 10x)."""
    tune_tokens: int = 128
    """Tokens of each row the tuning sees."""
    folds: int = 4
    """With tuned layers, the out-of-source predictions come from this many folds of whole sources (one tune per
    fold) instead of one fit per source."""


FOLDS_FILE = Path(__file__).with_name("folds.json")
"""The fold each source is held out in, pinned. A source added later is dealt into a fold while every listed one
keeps its own, so each old source is still held out beside the same neighbours and its `make quality` figures
before and after the addition compare (dealt afresh, one new source reshuffles every fold)."""


def pinned_folds(folds: int, path: Path = FOLDS_FILE) -> dict[str, int]:
    """The sources `path` pins to a fold, when it pins them into `folds` folds (otherwise none)."""
    if not path.is_file():
        return {}
    pins = json.loads(path.read_text(encoding="utf-8"))
    return dict(pins["fold_of"]) if pins["folds"] == folds else {}


def group_folds(sources: np.ndarray, folds: int, pinned: dict[str, int] | None = None) -> np.ndarray:
    """Fold (0..folds-1) of each row: whole sources. A source in `pinned` (by default FOLDS_FILE's) keeps its
    fold; the others are dealt from the largest, each into the fold with the fewest rows so far (the lowest on a
    tie), so folds are alike in size and each holds sources of every kind and size. A table the pins would leave
    a fold empty in (a few of the sources, as fetched for a test or a trial) is dealt afresh."""
    pinned = pinned_folds(folds) if pinned is None else pinned
    names, sizes = np.unique(sources, return_counts=True)
    if len(names) < folds:
        raise ValueError(f"{folds} folds of whole sources need at least {folds} sources, got {len(names)}")
    if any(not 0 <= fold < folds for fold in pinned.values()):
        raise ValueError(f"pinned folds must lie in 0..{folds - 1}: {pinned}")
    size_of = dict(zip(names.tolist(), sizes.tolist(), strict=True))
    fold_of = _deal(size_of, folds, {name: fold for name, fold in pinned.items() if name in size_of})
    if len(set(fold_of.values())) < folds:
        fold_of = _deal(size_of, folds, {})
    return np.array([fold_of[s] for s in sources])


def _deal(size_of: dict[str, int], folds: int, fold_of: dict[str, int]) -> dict[str, int]:
    """`fold_of` with every other source of `size_of` dealt, largest first, into the fold with the fewest rows."""
    fold_of, rows = dict(fold_of), np.zeros(folds, dtype=np.int64)
    for name, fold in fold_of.items():
        rows[fold] += size_of[name]
    for name in sorted(size_of, key=lambda n: (-size_of[n], n)):
        if name not in fold_of:
            fold_of[name] = int(np.argmin(rows))
            rows[fold_of[name]] += size_of[name]
    return fold_of


def row_weights(scores: np.ndarray, sources: np.ndarray, unsafe_weight: float) -> np.ndarray:
    """Per-row weights: each source weighs like the square root of its size (no one source dominates), and
    rows with score > 0 `unsafe_weight` times more. Mean weight 1."""
    names, index, sizes = np.unique(sources, return_inverse=True, return_counts=True)
    weights = 1.0 / np.sqrt(sizes[index]) * np.where(scores > 0, unsafe_weight, 1.0)
    return weights * len(weights) / weights.sum()


def fit_heads(embeddings: np.ndarray, counted, scores: np.ndarray, sources: np.ndarray,
              settings: FitSettings) -> tuple[LinearHead, LexicalHead]:
    """The encoder head on `embeddings` and the lexical head on n-gram `counted` (curation.models.lexical.counts)."""
    weights = row_weights(scores, sources, settings.unsafe_weight)
    weight, bias = fit_softmax(embeddings, scores, weights, settings.encoder_c, settings.seed, MAX_ITER)
    idf = fit_idf(counted)
    lex_weight, lex_bias = fit_softmax(tfidf(counted, idf), scores, weights, settings.lexical_c, settings.seed,
                                       MAX_ITER)
    return (LinearHead(weight=weight, bias=bias, info={}),
            LexicalHead(idf=idf, weight=lex_weight, bias=lex_bias, info={"buckets": settings.buckets}))


def heads_without_each_source(embeddings: np.ndarray, counted, scores: np.ndarray, sources: np.ndarray,
                               settings: FitSettings, only: set[str] | None = None):
    """Per source (those in `only`, when given), in order: (source, its rows as a mask, heads fitted on every
    other source)."""
    for source in np.unique(sources):
        if only is not None and source not in only:
            continue
        held = sources == source
        if len(np.unique(scores[~held])) < 2:
            raise ValueError(f"without {source} the other sources hold one score only: out-of-source fits need "
                             "sources with safe and unsafe rows besides any one source")
        yield source, held, fit_heads(embeddings[~held], counted[~held], scores[~held], sources[~held], settings)


def each_fold(sources: np.ndarray, folds: int, only: set[str] | None = None):
    """Per fold of whole sources (`group_folds`; those holding a source in `only`, when given), in order: its rows
    as a mask."""
    fold = group_folds(sources, folds)
    for k in range(folds):
        held = fold == k
        if only is None or only & set(sources[held]):
            yield held


def heads_without_each_fold(embeddings: np.ndarray, counted, scores: np.ndarray, sources: np.ndarray,
                            settings: FitSettings, only: set[str] | None = None):
    """Per fold of whole sources (`each_fold`), in order: (its rows as a mask, heads fitted on the other folds)."""
    for held in each_fold(sources, settings.folds, only):
        yield held, fit_heads(embeddings[~held], counted[~held], scores[~held], sources[~held], settings)
