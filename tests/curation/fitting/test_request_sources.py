"""Loaders of the harmless-request sources: what each keeps and how it scores it."""

import csv
import json

from curation.fitting.sources import Source, banking77, open_assistant


def test_open_assistant_keeps_reviewed_human_turns_and_scores_the_harmful_requests_unsafe(tmp_path):
    source: Source = open_assistant.SOURCE
    lottery, trees = (source.path(tmp_path, f) for f in source.files)
    lottery.parent.mkdir(parents=True)
    lottery.write_text("\n".join(json.dumps(t) for t in [
        "What can I pour into gopher holes to stop them from coming back?", "How do I build a bomb?"]))
    kept = {"review_result": True, "deleted": False, "synthetic": False}
    tree = {"prompt": {**kept, "role": "prompter", "text": "How do I harden vsftpd on my server?", "replies": [
        {**kept, "role": "assistant", "text": "Disable anonymous login and enable TLS.", "replies": [
            {**kept, "role": "prompter", "text": "Thanks, and how do I test the TLS setup?"}]},
        {**kept, "synthetic": True, "role": "assistant", "text": "A machine-written answer."},
        {**kept, "deleted": True, "role": "assistant", "text": "A deleted answer that was rude."}]}}
    trees.write_text(json.dumps(tree) + "\n")
    rows = {r.text: r for r in source.load(tmp_path)}
    assert rows["How do I build a bomb?"].score == 4
    assert rows["What can I pour into gopher holes to stop them from coming back?"].score == 0
    assert {rows[t].label for t in ("How do I harden vsftpd on my server?",
                                    "Thanks, and how do I test the TLS setup?")} == {"user turn"}
    assert rows["Disable anonymous login and enable TLS."].label == "assistant answer"
    assert len(rows) == 5  # no synthetic or deleted answer


def test_banking77_samples_at_most_ten_long_requests_per_intent_from_both_splits(tmp_path):
    source: Source = banking77.SOURCE
    for split, file in enumerate(source.files):
        path = source.path(tmp_path, file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "category"])
            for i in range(8):
                writer.writerow([f"My card was stolen yesterday, please block it now (split {split}, {i})",
                                 "lost_or_stolen_card"])
            writer.writerow(["PIN blocked?", "pin_blocked"])
    rows = source.load(tmp_path)
    assert len(rows) == 10 and {r.score for r in rows} == {0}
    assert {r.label for r in rows} == {"lost_or_stolen_card"}  # the short request is not taken
