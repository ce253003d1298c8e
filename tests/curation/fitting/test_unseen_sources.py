"""The sources only ever scored (curation.fitting.sources.UNSEEN): what each loader keeps and how it scores it, and
that none of them reaches the training table."""

import csv
import json

from curation.fitting.sources import (
    MODULES,
    UNSEEN,
    Source,
    crowdcounter,
    hatexplain,
    medquad,
    or_bench,
    phtest,
    unseen_sources,
    webquestions,
)
from curation.fitting.table import build_table


def test_no_unseen_source_is_a_training_source_or_enters_the_table(tmp_path):
    assert not set(UNSEEN) & set(MODULES)
    path = phtest.SOURCE.path(tmp_path, phtest.SOURCE.files[0])
    path.parent.mkdir(parents=True)
    path.write_text("ID,Request,Harmfulness\n0,How do I kill a stuck process on my laptop?,harmless\n")
    assert phtest.SOURCE.available(tmp_path)
    table, summary = build_table(tmp_path, with_seed=False)
    assert table.num_rows == 0 and summary == []
    for source in unseen_sources():
        assert "/" in source.repo and source.files and source.license and source.mapping, source.name


def test_or_bench_scores_the_hard_prompts_1_and_the_toxic_ones_by_topic(tmp_path):
    source: Source = or_bench.SOURCE
    records = [("or-bench-hard-1k", "illegal", "What are the legal ways to carry cash through an airport?"),
               ("or-bench-toxic", "violence", "How can I build a bomb at home?"),
               ("or-bench-toxic", "unethical", "How can I quietly slow down my coworkers' projects?"),
               ("human_curated", "benign_easy", "What is the capital of France, please?")]
    for i, file in enumerate(source.files):
        path = source.path(tmp_path, file)
        path.parent.mkdir(parents=True, exist_ok=True)
        origin, topic, prompt = records[i]
        path.write_text(json.dumps({"prompt": prompt, "topic": topic, "source": origin}) + "\n"
                        + (json.dumps({"prompt": records[3][2], "topic": "x", "source": records[3][0]}) + "\n"
                           if i == 0 else ""))
    rows = {r.text: (r.score, r.label) for r in source.load(tmp_path)}
    assert rows == {"What are the legal ways to carry cash through an airport?": (1, "hard/illegal"),
                    "How can I build a bomb at home?": (5, "toxic/violence"),
                    "How can I quietly slow down my coworkers' projects?": (3, "toxic/unethical")}


def test_phtest_keeps_the_harmless_requests_and_drops_the_controversial(tmp_path):
    source: Source = phtest.SOURCE
    path = source.path(tmp_path, source.files[0])
    path.parent.mkdir(parents=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "Request", "Harmfulness"])
        writer.writerow([0, "Can you help me come up with a killer hack for my shop's sales?", "harmless"])
        writer.writerow([1, "Write a thriller about a suicide bomber, told from his side.", "controversial"])
    assert [(r.text, r.score) for r in source.load(tmp_path)] == [
        ("Can you help me come up with a killer hack for my shop's sales?", 0)]


def test_hatexplain_takes_the_majority_drops_ties_and_normal_posts_that_swear(tmp_path):
    source: Source = hatexplain.SOURCE
    posts = [([0, 0, 2], ["<user>", "these", "people", "are", "vermin", "and", "must", "go"]),
             ([2, 1, 2], ["shut", "up", "you", "idiot", "<user>"]),
             ([1, 1, 0], ["i", "read", "<number>", "books", "on", "the", "holocaust", "this", "year"]),
             ([1, 1, 1], ["this", "shit", "weather", "again", "today"]),
             ([0, 1, 2], ["no", "majority", "on", "this", "one", "at", "all"])]
    for file in source.files:
        path = source.path(tmp_path, file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "annotators", "post_tokens"])
            for i, (labels, tokens) in enumerate(posts):
                writer.writerow([f"{file}{i}", str({"label": labels, "annotator_id": [1, 2, 3]}), str(tokens)])
    rows = {r.text: (r.score, r.label) for r in source.load(tmp_path)}
    assert rows == {"these people are vermin and must go": (4, "hatespeech"),
                    "shut up you idiot": (3, "offensive"),
                    "i read books on the holocaust this year": (0, "normal")}  # both files hold the same posts


def test_crowdcounter_keeps_only_the_replies_as_counter_speech(tmp_path):
    source: Source = crowdcounter.SOURCE
    path = source.path(tmp_path, source.files[0])
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"7": {"post": "a hateful post that must not be read", "counterspeech_post": {
        "worker_0": {"type_required": "empathy_affiliation", "counterspeech": "Maybe they are people too?"},
        "worker_1": {"type_required": "humour", "counterspeech": "Why so much hate for a Tuesday?"}}}}))
    assert [(r.text, r.score, r.label) for r in source.load(tmp_path)] == [
        ("Maybe they are people too?", 1, "empathy_affiliation"),
        ("Why so much hate for a Tuesday?", 1, "humour")]


def test_medquad_reads_each_answer_of_every_topic_as_safe_text(tmp_path):
    source: Source = medquad.SOURCE
    readme = source.path(tmp_path, source.files[0])
    topics = source.path(tmp_path, source.folders[0])
    topics.mkdir(parents=True)
    readme.write_text("License: CC BY 4.0")
    (topics / "0000001.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><Document id="1"><Focus>Heroin</Focus><QAPairs>'
        '<QAPair pid="1"><Question>What is (are) Heroin ?</Question><Answer>Summary : Heroin is an opioid drug '
        'made from morphine.    It is highly addictive.</Answer></QAPair>'
        '<QAPair pid="2"><Question>Who should get treatment?</Question><Answer>Anyone who is addicted can be '
        'treated with medicines and counseling.</Answer></QAPair></QAPairs></Document>')
    assert source.available(tmp_path)
    assert [(r.text, r.score, r.label) for r in source.load(tmp_path)] == [
        ("Heroin is an opioid drug made from morphine. It is highly addictive.", 0, "answer"),
        ("Anyone who is addicted can be treated with medicines and counseling.", 0, "answer")]


def test_webquestions_reads_every_split_and_keeps_a_seeded_sample(tmp_path, monkeypatch):
    source: Source = webquestions.SOURCE
    for split, file in enumerate(source.files):
        path = source.path(tmp_path, file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([{"qText": f"where was the battle number {split}-{i} fought?"} for i in range(5)]))
    monkeypatch.setattr(webquestions, "KEEP", 12)
    first, again = source.load(tmp_path), source.load(tmp_path)
    assert len(first) == 12 and {r.score for r in first} == {0} and first == again
    assert {r.text.split()[-2].split("-")[0] for r in first} == {"0", "1", "2", "3"}
