"""Counter-speech: replies written by crowd workers to hateful or offensive posts, in six styles (empathy,
humour, questions, warning of consequences, shaming, contradiction) — CrowdCounter, Saha et al., 2024.

Only the replies are read: the hateful posts they answer come from an earlier collection without a licence.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.fitting.sources import Row, Source, unique_rows

SOURCE = Source(
    name="crowdcounter",
    repo="hate-alert/CrowdCounter",
    files=("Datasets/CrowdCounter/Final_Dataset.json",),
    license="MIT ((c) 2024 Punyajoy Saha)",
    kind="user_text",
    mapping="every counter-speech reply -> 1 (speaks against hate, sometimes naming the group or the insult it "
            "answers, without abuse of its own); the hateful posts are not read",
)


def load(source: Source, root: Path) -> list[Row]:
    data = json.loads(source.path(root, source.files[0]).read_text(encoding="utf-8"))
    return unique_rows(Row(reply["counterspeech"], 1, reply["type_required"])
                       for key in sorted(data, key=int) for reply in data[key]["counterspeech_post"].values())
