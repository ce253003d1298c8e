"""Hand-written functional test cases for hate speech, hateful and contrastive non-hateful.

HateCheck, Röttger et al., 2021.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

SOURCE = Source(
    name="hatecheck",
    repo="paul-rottger/hatecheck-data",
    files=("test_suite_cases.csv",),
    license="CC-BY-4.0",
    kind="user_text",
    mapping="hateful: threats (threat_dir_h, threat_norm_h) -> 5, all other hateful functionalities (derogation, "
            "slurs, profanity, obfuscated spellings) -> 4; non-hateful: reclaimed slurs and non-hateful profanity "
            "-> 3, abuse of individuals or non-protected groups -> 2, counter-speech quoting hate -> 1, "
            "neutral/positive "
            "identity mentions, negated hate, slur homonyms and abuse of objects -> 0",
)

NON_HATEFUL = {
    "slur_reclaimed_nh": 3, "profanity_nh": 3, "target_indiv_nh": 2, "target_group_nh": 2,
    "counter_quote_nh": 1, "counter_ref_nh": 1, "ident_neutral_nh": 0, "ident_pos_nh": 0,
    "negate_neg_nh": 0, "slur_homonym_nh": 0, "target_obj_nh": 0,
}


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(Row(r["test_case"], _score(r), r["functionality"]) for r in csv_records(source, root))


def _score(record: dict[str, str]) -> int:
    functionality = record["functionality"]
    if record["label_gold"] == "hateful":
        return 5 if functionality.startswith("threat_") else 4
    return NON_HATEFUL[functionality]
