"""Health-topic summaries from MedlinePlus (U.S. National Library of Medicine), as collected in MedQuAD (Ben Abacha
and Demner-Fushman, 2019): plain-language pages on diseases, drugs, addiction, suicide, sexual assault and abuse."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from curation.fitting.sources import Row, Source, unique_rows

TOPICS = "4_MPlus_Health_Topics_QA"
"""One XML file per health topic, its question-answer pairs inside."""

SOURCE = Source(
    name="medquad",
    repo="abachaa/MedQuAD",
    files=("readme.txt",),
    folders=(TOPICS,),
    license="CC-BY-4.0 (readme.txt)",
    kind="web_text",
    mapping="every answer -> 0 (educational health text, including the pages on heroin, club drugs, suicide, "
            "sexual assault, child abuse and domestic violence); the answer alone, without MedQuAD's templated "
            "question or its 'Summary :' prefix",
)


def load(source: Source, root: Path) -> list[Row]:
    rows = []
    for path in sorted(source.path(root, TOPICS).glob("*.xml")):
        document = ET.parse(path).getroot()
        for answer in document.iter("Answer"):
            text = re.sub(r"^\s*Summary\s*:\s*", "", answer.text or "")
            rows.append(Row(re.sub(r"\s{2,}", " ", text), 0, "answer"))
    return unique_rows(rows)
