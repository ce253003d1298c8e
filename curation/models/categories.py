"""Which harm an unsafe text does: a linear head over the encoder embedding that picks one of 15 categories.

The 14 report-card categories of the Safety Pretraining paper plus `toxic` (insults and harassment
that fit none of them; the seed set's `toxic_comment`). The head is trained only on unsafe rows
(score >= 2) of the labeled seed set, so it answers "which harm?", never "is it harmful?": ask the
score head (curation.models.encoder) that first. Retrain the packaged head with `python -m curation.fitting.categories`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.models.encoder import LinearHead

CATEGORIES = (
    "violent_crimes", "non_violent_crimes", "sex_related_crimes", "child_sexual_exploitation",
    "defamation", "specialized_advice", "privacy", "intellectual_property", "indiscriminate_weapons",
    "hate", "suicide_self_harm", "sexual_content", "elections", "code_interpreter_abuse", "toxic",
)
SEED_ALIASES = {"toxic_comment": "toxic"}
CATEGORY_HEAD = Path(__file__).parents[1] / "heads" / "category"
CATEGORY = "category"
"""Sub-folder of a scoring head folder holding a category head fitted on that head's encoder (read before
CATEGORY_HEAD, which is fitted on the packaged MiniLM)."""


def readable(category: str) -> str:
    """`violent_crimes` -> `violent crimes`: the form written into reflections."""
    return category.replace("_", " ")


@dataclass
class CategoryHead(LinearHead):
    """Softmax regression over embeddings: row k of the weight scores category `labels[k]`."""

    WRITER = "`python -m curation.fitting.categories`"

    @property
    def labels(self) -> list[str]:
        return self.info["labels"]

    def predict(self, embeddings: np.ndarray) -> list[str]:
        """The most likely category of each embedding."""
        if len(embeddings) == 0:
            return []
        return [self.labels[k] for k in self.probabilities(embeddings).argmax(axis=1)]

    @classmethod
    def load(cls, folder: str | Path = CATEGORY_HEAD) -> CategoryHead:
        return super().load(folder)

    def check(self, folder: Path) -> None:
        """Raise ValueError unless head.json names one label per weight row."""
        labels = self.info.get("labels")
        if not isinstance(labels, list):
            raise FileNotFoundError(f"category head {folder} is unreadable: its head.json has no `labels`; "
                                    f"write it with {self.WRITER}")
        if self.weight.shape[0] != len(labels) or self.bias.shape != (len(labels),):
            raise ValueError(f"category head {folder} has shape {self.weight.shape} for {len(labels)} labels")
