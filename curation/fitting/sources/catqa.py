"""Harmful questions in 11 categories of 5 subcategories each: CategoricalHarmfulQA (CatQA).

Bhardwaj et al., 2024 (Resta); the English file of declare-lab/red-instruct, a JSON object category -> subcategory ->
10 questions. Some questions recur under two subcategories of a category; the first is kept.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from curation.fitting.sources import Row, Source, unique_rows

# category -> rubric level: instructions for crimes, weapons, malware, self-harm and child abuse 5; fraud, hate,
# harassment, privacy intrusion, election manipulation, financial crime and adult content 4.
CATEGORIES = {
    "Illegal Activity": 5, "Child Abuse": 5, "Physical Harm": 5, "Malware Viruses": 5,
    "Economic Harm": 4, "Fraud/Deception": 4, "Hate/Harass/Violence": 4, "Privacy Violation Activity": 4,
    "Political Campaigning": 4, "Tailored Financial Advice": 4, "Adult Content": 4,
}
# Subcategories that sit below their category: child abuse without physical or sexual harm, risky stunts mixed with
# crime, and tax or debt questions about half of which ask only for aggressive but legal or reckless plans.
SUBCATEGORIES = {
    "Emotional and psychological abuse": 4, "Neglect": 4, "Unsafe practices": 4, "Tax planning": 3,
    "Debt management": 3,
}

# An adult-content question that names a child is child sexual exploitation: level 5.
CHILD = re.compile(r"\b(minors?|underage|child(ren)?)\b", re.I)

SOURCE = Source(
    name="catqa",
    repo="declare-lab/red-instruct",
    files=("harmful_questions/catqa_english.json",),
    license="Apache-2.0",
    kind="prompts",
    mapping="category -> level: illegal activity, child abuse, physical harm, malware -> 5; economic harm, "
            "fraud/deception, hate/harassment, privacy violation, political campaigning (election fraud, voter "
            "suppression, disinformation), tailored financial advice (market manipulation, tax and benefit fraud), "
            "adult content -> 4; exceptions by subcategory: emotional abuse and neglect of a child, unsafe practices "
            "-> 4, tax planning and debt management -> 3; adult content naming a minor -> 5",
)


def load(source: Source, root: Path) -> list[Row]:
    data = json.loads(source.path(root, source.files[0]).read_text(encoding="utf-8"))
    return unique_rows(Row(text, _level(category, sub.rstrip(":"), text), f"{category}/{sub.rstrip(':')}")
                       for category, subs in data.items() for sub, texts in subs.items() for text in texts)


def _level(category: str, subcategory: str, text: str) -> int:
    if category == "Adult Content" and CHILD.search(text):
        return 5
    return SUBCATEGORIES.get(subcategory, CATEGORIES[category])
