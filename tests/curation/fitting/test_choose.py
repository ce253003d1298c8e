"""Choosing the blend weight and the level thresholds on held-out documents scored as the pipeline scores them."""

import numpy as np

from curation.fitting.choose import HeldOutDocuments, choose_blend, choose_levels


def piece(p_unsafe: float) -> list[float]:
    """A 6-way distribution with P(score >= 2) = p_unsafe."""
    return [1.0 - p_unsafe, 0.0, p_unsafe, 0.0, 0.0, 0.0]


def documents(pieces: list[list[float]], owners: list[int], scores: list[int], sources: list[str],
              lexical: list[list[float]] | None = None) -> HeldOutDocuments:
    encoder = np.array(pieces)
    return HeldOutDocuments(encoder, encoder if lexical is None else np.array(lexical), np.array(owners),
                            np.array(scores), np.array(sources))


def test_a_document_is_as_unsafe_as_its_most_unsafe_piece_under_the_blend():
    docs = documents([piece(0.1), piece(0.9), piece(0.3)], [0, 0, 1], [4, 0], ["a", "a"],
                     lexical=[piece(0.1), piece(0.1), piece(0.7)])
    assert np.allclose(docs.at_least(1.0)[:, 2], [0.9, 0.3])
    assert np.allclose(docs.at_least(0.5)[:, 2], [0.5, 0.5])
    assert np.allclose(docs.at_least(0.0)[:, 0], 1.0)


def test_the_level_two_threshold_clears_the_windows_of_long_safe_documents():
    # safe documents: a harmless first chunk and one borderline window; unsafe ones: a window at 0.72
    pieces, owners, scores = [], [], []
    for doc in range(40):
        unsafe = doc % 2 == 0
        pieces += [piece(0.1), piece(0.72 if unsafe else 0.57)]
        owners += [doc, doc]
        scores.append(4 if unsafe else 0)
    docs = documents(pieces, owners, scores, ["web"] * 40)
    _, threshold, criterion = choose_blend(docs)
    assert 0.57 < threshold <= 0.72
    first_chunk_only = documents(pieces[::2], list(range(40)), scores, ["web"] * 40)
    assert max(criterion.values()) == 1.0 and max(choose_blend(first_chunk_only)[2].values()) < 1.0
    levels = choose_levels(docs.at_least(1.0), docs.scores, docs.sources, threshold)
    assert levels.thresholds[1] == threshold
