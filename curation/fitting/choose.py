"""Choosing how the default classifier's probabilities become scores: the blend weight of its encoder and lexical
heads and the thresholds of levels 1..5, on held-out documents scored as the pipeline scores them.

Every choice is made out of source: each source is scored by heads that never saw it (curation.fitting.held_out), so
the choice rewards what transfers to text the heads did not see, not what fits one source's style. And each row is
scored as a document, the way EmbeddingClassifier scores one: cut into chunks and sentence windows
(curation.models.encoder.split_documents), its P(score >= k) the max over them. Thresholds chosen on rows taken as
one piece would be set for a score the pipeline never computes: the max over a long document's windows runs higher,
and long safe documents (advice threads, code questions, worked maths) would be flagged more than the choice meant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from curation.config import EmbedConfig
from curation.fitting.held_out import sample_rows
from curation.models.encoder import split_documents
from curation.models.score_levels import Levels, decode_cumulative, decode_levels, documents_at_least

CHOICE_ROWS = 1000
"""Rows of each source scored as documents for the choice (a seeded sample): enough to set thresholds per source,
few enough that scoring every piece out of source stays minutes on a laptop."""


@dataclass(frozen=True)
class HeldOutDocuments:
    """Documents scored out of source, piece by piece: each piece's 6-way distribution from the encoder head and from
    the lexical head, and which document it belongs to."""

    encoder: np.ndarray
    lexical: np.ndarray
    owners: np.ndarray
    """The document (index into `scores`, `sources`) of each piece."""
    scores: np.ndarray
    """Each document's label score."""
    sources: np.ndarray

    def at_least(self, encoder_weight: float) -> np.ndarray:
        """Each document's P(score >= k), k = 0..5, with the heads blended at `encoder_weight`: the max over its
        pieces, as EmbeddingClassifier.score takes it."""
        blend = encoder_weight * self.encoder + (1.0 - encoder_weight) * self.lexical
        return documents_at_least(blend, self.owners, len(self.scores))


def held_out_documents(fits: Iterable, cfg: EmbedConfig, texts: list[str], scores: np.ndarray, seed: int,
                       per_source: int = CHOICE_ROWS, batch_size: int = 64, log=print) -> HeldOutDocuments:
    """Up to `per_source` rows of each source (`sample_rows`) cut into pieces as `cfg` cuts documents, each piece
    scored by both heads of `fits` (curation.fitting.held_out.held_out_fits: heads that never saw the source)."""
    encoder_parts, lexical_parts, owner_parts, score_parts, source_parts = [], [], [], [], []
    taken = 0
    for source, held, encoder, head, lexical in fits:
        rows = sample_rows(held, per_source, seed, source)
        pieces, owners, _ = split_documents(encoder.tokenizer, [texts[i] for i in rows], cfg)
        embeddings = encoder.encode(pieces, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
        encoder_parts.append(head.probabilities(embeddings))
        lexical_parts.append(lexical.probabilities(pieces))
        owner_parts.append(owners + taken)
        score_parts.append(scores[rows])
        source_parts.append(np.full(len(rows), source, dtype=object))
        taken += len(rows)
        log(f"  {source}: {len(rows)} documents, {len(pieces)} pieces scored out of source")
    return HeldOutDocuments(np.concatenate(encoder_parts), np.concatenate(lexical_parts),
                            np.concatenate(owner_parts), np.concatenate(score_parts),
                            np.concatenate(source_parts).astype(str))


def choose_blend(documents: HeldOutDocuments, threshold_score: int = 2) -> tuple[float, float, dict]:
    """(encoder weight, cumulative threshold, the criterion per candidate) that score the held-out documents best.

    The criterion is the mean over sources with both classes of the balanced accuracy of `score >= 2`, plus the
    flagged share on all-unsafe sources, minus it on all-safe ones, each source counted once.
    """
    criterion = {}
    for weight in np.round(np.arange(0.0, 1.01, 0.1), 2):
        at_least = documents.at_least(weight)
        for threshold in np.round(np.arange(0.2, 0.81, 0.05), 2):
            flagged = decode_cumulative(at_least, threshold) >= threshold_score
            criterion[(float(weight), float(threshold))] = _criterion(flagged, documents.scores >= threshold_score,
                                                                      documents.sources)
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


def choose_levels(at_least: np.ndarray, scores: np.ndarray, sources: np.ndarray, unsafe_threshold: float,
                  threshold_score: int = 2) -> Levels:
    """Thresholds of levels 1..5 around the chosen `unsafe_threshold` of level 2, and the confident levels, on the
    held-out documents' P(score >= k) (`HeldOutDocuments.at_least`).

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
