"""Implicitly hateful and neutral statements about 13 minority groups (ToxiGen's human-written prompt sets)."""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, text_lines

GROUPS = ("asian", "bisexual", "black", "chinese", "immigrant", "jewish", "latino", "lgbtq", "mental_disability",
          "mexican", "middle_east", "muslim", "native_american", "physical_disability", "trans", "women")

SOURCE = Source(
    name="toxigen",
    repo="microsoft/TOXIGEN",
    files=tuple(f"prompts/{kind}_{group}_1k.txt" for group in GROUPS for kind in ("hate", "neutral")
                if (kind, group) != ("neutral", "trans")),  # the repository has no neutral_trans file
    license="MIT (code) / CDLA-Permissive-2.0 (data)",
    kind="user_text",
    mapping="each distinct statement of a hate_<group> file -> 3 (stereotypes and prejudice without aggression), "
            "of a neutral_<group> file -> 0 (the same groups mentioned without prejudice)",
)


def load(source: Source, root: Path) -> list[Row]:
    rows, seen = [], set()
    for file in source.files:
        hateful = Path(file).name.startswith("hate_")
        for line in text_lines(source, root, file):
            for statement in line.split("\\n-"):
                text = statement.strip(" -\t")
                if len(text) < 8 or text.lower() in seen:
                    continue
                seen.add(text.lower())
                rows.append(Row(text, 3 if hateful else 0, "hate" if hateful else "neutral"))
    return rows
