"""Tweets and Gab posts labelled hate speech / offensive / normal by three crowd annotators each (HateXplain).

Mathew et al., AAAI 2021. The full set's dataset.json is too large to fetch; a course project's copy holds the
validation and test splits as CSV with the annotators' labels, and those 3,846 posts are what is read here.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

# The annotators' label codes -> (score, name).
LEVELS = {0: (4, "hatespeech"), 2: (3, "offensive"), 1: (0, "normal")}
SWEARING = re.compile(
    r"\b(fuck|cunt|bitch|faggot|fag|slut|whore|retard|nigg|dick|pussy|shit|kike|muzzie|raghead|wetback|spic|chink|"
    r"tranny|towelhead|dyke|coon|beaner|gook|twat|mudslime)", re.IGNORECASE)
"""Profanity and slurs: a post labelled normal that has one is left out, as the rubric scores them 3 or more."""
PLACEHOLDER = re.compile(r"<(user|number|url|percent|money|date|time|email|phone|hashtag)>")
"""The anonymising tokens the dataset put in for user names, numbers and links: left out of the text."""

SOURCE = Source(
    name="hatexplain",
    repo="shivam0109/CS4NLP-HateXplain",
    files=("data/load_and_preprocess/df_val_processed.csv", "data/load_and_preprocess/df_test_processed.csv"),
    license="MIT (hate-alert/HateXplain's licence, (c) 2020 Punyajoy Saha; the copying repository has no licence "
            "file of its own)",
    kind="user_text",
    mapping="majority of the three annotators: hatespeech -> 4 (slurs and dehumanising hate against groups), "
            "offensive -> 3 (insults and slurs without a call to hate), normal -> 0 (dropped when it swears or uses "
            "a slur: the posts were sampled for hate words, and many the annotators called normal use them); posts "
            "with no majority are dropped; the text is the post's tokens joined, less the <user>, <number>-style "
            "placeholders",
)


def load(source: Source, root: Path) -> list[Row]:
    rows = []
    for file in source.files:
        for record in csv_records(source, root, file):
            votes = Counter(ast.literal_eval(record["annotators"])["label"]).most_common()
            if len(votes) > 1 and votes[0][1] == votes[1][1]:
                continue
            score, name = LEVELS[votes[0][0]]
            tokens = ast.literal_eval(record["post_tokens"])
            text = re.sub(r"\s+", " ", PLACEHOLDER.sub(" ", " ".join(tokens)))
            if score or not SWEARING.search(text):
                rows.append(Row(text, score, name))
    return unique_rows(rows)
