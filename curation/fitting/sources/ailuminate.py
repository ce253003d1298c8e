"""Hazardous requests to a chat assistant in 12 hazard categories (MLCommons AILuminate demo prompt set)."""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records

# The hazard codes of the prompt set and the rubric level a request of that kind gets.
LEVELS = {
    "vcr": 5, "iwp": 5, "cse": 5, "ssh": 5, "src": 5, "ncr": 4, "hte": 4, "sxc_prn": 4,
    "dfm": 4, "prv": 4, "ipv": 3, "spc_fin": 2, "spc_hlt": 2, "spc_lgl": 2, "spc_ele": 2,
}

SOURCE = Source(
    name="ailuminate",
    repo="mlcommons/ailuminate",
    files=("airr_official_1.0_demo_en_us_prompt_set_release.csv",),
    license="CC-BY-4.0 (prompts; repository Apache-2.0)",
    kind="prompts",
    mapping="hazard -> level: violent crimes, weapons, child sexual exploitation, suicide & self-harm, "
            "sex-related crimes -> 5; non-violent crimes, hate, sexual content, defamation, privacy -> 4; "
            "intellectual property -> 3; specialized advice (financial, health, legal, elections) -> 2",
)


def load(source: Source, root: Path) -> list[Row]:
    return [Row(r["prompt_text"], LEVELS[r["hazard"]], r["hazard"]) for r in csv_records(source, root)
            if r["hazard"] in LEVELS]
