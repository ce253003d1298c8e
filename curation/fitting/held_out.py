"""Heads that never saw a source: the out-of-source fits `make head` chooses its blend and levels on, and the ones
`make quality` scores each source with.

Heads are fitted without each source, or, when the encoder's top layers are tuned (or `grouped`), without each fold
of whole sources (curation.fitting.heads.group_folds), the layers tuned once per fold (curation.fitting.tune).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

import numpy as np

from curation.config import EmbedConfig
from curation.fitting.heads import FitSettings, heads_without_each_fold, heads_without_each_source
from curation.models.encoder import load_encoder, set_layers
from curation.models.lexical import counts


def held_out_fits(cfg: EmbedConfig, texts: list[str], scores: np.ndarray, sources: np.ndarray, settings: FitSettings,
                  only: set[str] | None = None, grouped: bool = False, fits: list | None = None, counted=None,
                  embeddings: np.ndarray | None = None, states: Callable[[], list] | None = None):
    """Per held-out source (those in `only`, when given): (source, its rows as a mask, encoder, encoder head, lexical
    head), none of which saw the source. The encoder is `cfg`'s packaged one, with the fold's tuned layers when
    `settings` tunes them.

    What the fits need is computed unless given: `counted` (n-gram counts of `texts`), `embeddings` (of `texts`, frozen
    encoder) and `states` (gives the lower states of `texts`, curation.fitting.tune.TopLayers.states; called only when
    a fold is tuned rather than read back from the fold cache `make head` fills). With tuned layers, `fits` (a list)
    gets per fold the sources it holds out and the seconds its fits took."""
    counted = counts(texts, settings.buckets) if counted is None else counted

    def each_source(held: np.ndarray, encoder, head, lexical):
        for source in np.unique(sources[held]):
            if only is None or source in only:
                yield source, sources == source, encoder, head, lexical

    if not settings.tune_layers:
        encoder = load_encoder(cfg)
        if embeddings is None:
            embeddings = encoder.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)
        if not grouped:
            for source, held, heads in heads_without_each_source(embeddings, counted, scores, sources, settings,
                                                                 only):
                yield source, held, encoder, *heads
            return
        for held, heads in heads_without_each_fold(embeddings, counted, scores, sources, settings, only):
            yield from each_source(held, encoder, *heads)
        return
    from curation.fitting.tune import TopLayers, fold_cache, tuned_folds

    if states is None:
        def states() -> list:
            return TopLayers(settings.tune_layers, settings.seed).states(texts, settings.tune_tokens)

    cache = fold_cache(texts, scores, sources, settings)  # the folds `make head` tuned on this table, when kept
    started = time.time()
    for held, (head, lexical, tuner) in tuned_folds(states, counted, scores, sources, settings, only=only,
                                                    cache=cache):
        if fits is not None:
            fits.append({"held_out": sorted(str(s) for s in set(sources[held])),
                         "seconds": round(time.time() - started, 1)})
        encoder = load_encoder(cfg)
        set_layers(encoder, tuner.tensors())
        yield from each_source(held, encoder, head, lexical)
        started = time.time()


def sample_rows(held: np.ndarray, most: int, seed: int, source: str) -> np.ndarray:
    """Up to `most` of the rows in mask `held`, in order: a seeded sample of its own per source, so adding a source
    moves no other source's sample."""
    rows = np.flatnonzero(held)
    rng = np.random.default_rng([seed, zlib.crc32(str(source).encode())])
    return np.sort(rng.choice(rows, min(len(rows), most), replace=False))
