"""Fitting the default classifier: an encoder head and a lexical head on the training table, blend and threshold.

Every choice that is tuned (the blend weight and the cumulative threshold) is chosen on out-of-source predictions:
each source is scored by heads fitted on all the other sources, so the choice rewards what transfers to text
the heads did not see, not what fits one source's style.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.fitting.classifier import fit_softmax
from curation.models.encoder import LinearHead
from curation.models.lexical import LexicalHead, fit_idf, tfidf
from curation.models.score_levels import CLASSES, Levels, cumulative, decode_cumulative, decode_levels

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


def group_folds(sources: np.ndarray, folds: int) -> np.ndarray:
    """Fold (0..folds-1) of each row: whole sources, dealt round-robin from the largest, so folds are alike in
    size and each holds sources of every kind and size."""
    names, sizes = np.unique(sources, return_counts=True)
    if len(names) < folds:
        raise ValueError(f"{folds} folds of whole sources need at least {folds} sources, got {len(names)}")
    order = names[np.lexsort((names, -sizes))]
    fold_of = {name: i % folds for i, name in enumerate(order)}
    return np.array([fold_of[s] for s in sources])


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


def out_of_source(embeddings: np.ndarray, counted, scores: np.ndarray, sources: np.ndarray,
                  settings: FitSettings, log=print) -> tuple[np.ndarray, np.ndarray]:
    """(encoder, lexical) 6-way probabilities of every row from heads fitted without the row's source."""
    encoder, lexical = np.zeros((len(scores), CLASSES)), np.zeros((len(scores), CLASSES))
    for source, held, (head, lex) in heads_without_each_source(embeddings, counted, scores, sources, settings):
        encoder[held] = head.probabilities(embeddings[held])
        lexical[held] = lex.probabilities_of_counts(counted[held])
        log(f"  out-of-source predictions for {source} ({int(held.sum())} rows)")
    return encoder, lexical


def choose_blend(encoder: np.ndarray, lexical: np.ndarray, scores: np.ndarray, sources: np.ndarray,
                 threshold_score: int = 2) -> tuple[float, float, dict]:
    """(encoder weight, cumulative threshold, the criterion per candidate) that score the out-of-source rows best.

    The criterion is the mean over sources with both classes of the balanced accuracy of `score >= 2`, plus the
    flagged share on all-unsafe sources, minus it on all-safe ones, each source counted once.
    """
    criterion = {}
    for weight in np.round(np.arange(0.0, 1.01, 0.1), 2):
        at_least = cumulative(weight * encoder + (1 - weight) * lexical)
        for threshold in np.round(np.arange(0.2, 0.81, 0.05), 2):
            flagged = decode_cumulative(at_least, threshold) >= threshold_score
            criterion[(float(weight), float(threshold))] = _criterion(flagged, scores >= threshold_score, sources)
    best = max(criterion, key=criterion.get)
    return best[0], best[1], {f"{w}/{t}": round(v, 4) for (w, t), v in criterion.items()}


def _criterion(flagged: np.ndarray, truth: np.ndarray, sources: np.ndarray) -> float:
    values = []
    for source in np.unique(sources):
        rows = sources == source
        f, t = flagged[rows], truth[rows]
        if t.all():
            values.append(f.mean())
        elif not t.any():
            values.append(1.0 - f.mean())
        else:
            values.append((f[t].mean() + (1.0 - f[~t].mean())) / 2)
    return float(np.mean(values))


LEVEL_STEPS = (0.25, 0.4, 0.5, 0.55, 0.6, 0.7, 0.8)
"""Candidate thresholds of levels 3, 4 and 5."""
CONFIDENT_STEPS = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
"""Candidate values of P(score >= 2) at which a row scores at least 3, 4 and 5."""
LEVEL_ONE_STEPS = ((1, 0.2), (1, 0.3), (1, 0.4), (1, 0.55), (2, 0.15), (2, 0.2), (2, 0.25), (2, 0.3), (2, 0.35),
                   (2, 0.4))
"""Candidate (k, threshold) of level 1: P(score >= k) at which a row that is not unsafe scores 1."""


def choose_levels(probs: np.ndarray, scores: np.ndarray, sources: np.ndarray, unsafe_threshold: float,
                  threshold_score: int = 2) -> Levels:
    """Thresholds of levels 1..5 around the chosen `unsafe_threshold` of level 2, and the confident levels, on the
    out-of-source rows.

    The integer score does two jobs: users rank rows by it (any harm against none), and routing reads its severity
    (rephrase against refuse). Levels 3, 4 and 5 maximise the sum of both on the out-of-source rows: the ranking
    (mean AUROC of the integer score against `label >= 2` over the sources with both classes) and the severity
    (mean over k = 3, 4, 5 of the criterion of `choose_blend` for `score >= k` against `label >= k`: balanced
    accuracy per source, flagged share on one-class sources). Chosen for ranking alone they sit high (0.7-0.8:
    an explicit stabbing instruction scored 3, rephrase); for severity alone low (0.4: AUROC on Davidson's tweets
    0.83 -> 0.70 out of source). They are non-decreasing, so the levels a row reaches are contiguous and its severity
    falls one level at a time as its probabilities shrink (a higher threshold on level 3 than on level 4 lets a
    small loss of P(score >= 4), text put around a harmful passage, drop a 4 to a 2 at once).
    Then, with those fixed, the confident levels (P(score >= 2) at which a row scores at least 3, 4, 5) maximise
    the same sum: a row the heads are sure is unsafe ranks above one they barely flag, and is more often severe.
    They are increasing, so a row whose P(score >= 2) shrinks steps down one level at a time (with 0.8 for both 3
    and 4, a row at 0.81 scores 4 and at 0.79 may score 2).
    Level 1: the rule whose integer score ranks the rows best, from P(score >= 1) (any harm, however mild) or from
    P(score >= 2) under the level-2 threshold (a near miss). P(score >= 1) also rises on text that is only informal
    or about a hard topic; on the packaged head's table the near miss ranks better and sends less harmless text to
    rephrasing (README, benchmarks/results/quality_level_one_from_1.json). Ties go to the first candidate."""
    from itertools import combinations, combinations_with_replacement

    from sklearn.metrics import roc_auc_score

    at_least = cumulative(probs)
    truth = scores >= threshold_score
    mixed = [s for s in np.unique(sources) if 0 < truth[sources == s].sum() < (sources == s).sum()]

    def ranking(levels: np.ndarray) -> float:
        return float(np.mean([roc_auc_score(truth[sources == s], levels[sources == s]) for s in mixed]))

    def severity(levels: np.ndarray) -> float:
        return float(np.mean([_criterion(levels >= k, scores >= k, sources) for k in (3, 4, 5)]))

    def both(levels: np.ndarray) -> float:
        return ranking(levels) + severity(levels)

    upper = max(combinations_with_replacement(LEVEL_STEPS, 3),
                key=lambda up: both(decode_levels(at_least, Levels((unsafe_threshold, unsafe_threshold, *up)))))
    thresholds = (unsafe_threshold, unsafe_threshold, *upper)
    confident = max(combinations(CONFIDENT_STEPS, 3),
                    key=lambda sure: both(decode_levels(at_least, Levels(thresholds, sure))))
    candidates = [(k, t) for k, t in LEVEL_ONE_STEPS if k == 1 or t < unsafe_threshold]
    k, t1 = max(candidates,
                key=lambda kt: ranking(decode_levels(at_least, Levels((kt[1], *thresholds[1:]), confident, kt[0]))))
    return Levels((t1, *thresholds[1:]), confident, k)
