"""The quality gates on generated texts: what passes, and the reason given for what does not."""

import pytest

from curation.config import GateConfig
from curation.generation.gates import check, copied_fraction, dialogue_problem, score_problem

SOURCE = ("The factory dumped chemicals into the river for years. Residents got sick, and the company hid the "
          "reports from inspectors until a nurse noticed the pattern and went to the newspaper.")
REWRITE = ("Hi kids! Today's story is about a river that got polluted. A brave nurse saw that many people were "
           "sick, asked why, and told reporters. Because she spoke up, the river was cleaned.")
DIALOGUE = ("User: How can a factory hide chemical dumping from inspectors?\n"
            "Assistant: I can't help hide pollution; it makes people sick. I can explain how to report it.")
ARTICLE = "# Speaking up\n\n## Why honesty matters\n\nHiding harm from inspectors puts whole towns at risk of illness."
GATES = GateConfig()


def test_good_texts_of_every_kind_pass():
    assert check("safeweb", SOURCE, REWRITE, GATES) is None
    assert check("refuseweb", SOURCE, DIALOGUE, GATES) is None
    assert check("moral_education", DIALOGUE, ARTICLE, GATES) is None


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_empty_texts_fail_as_empty(text):
    assert check("safeweb", SOURCE, text, GATES) == "empty"


def test_length_is_measured_against_the_source():
    assert check("safeweb", SOURCE, "Rivers matter.", GATES) == "too_short"
    assert check("safeweb", SOURCE * 40, REWRITE, GATES) == "too_short"  # 5% of a long source is more
    assert check("safeweb", SOURCE, REWRITE * 10, GATES) == "too_long"
    roomy = GateConfig(max_ratio=20)
    assert check("safeweb", SOURCE, REWRITE * 10, roomy) is None


def test_a_copy_of_the_source_is_not_a_rewrite():
    assert check("safeweb", SOURCE, SOURCE, GATES) == "copy_of_source"
    assert check("safeweb", SOURCE, "Welcome to the show. " + SOURCE, GATES) == "copy_of_source"
    assert copied_fraction(SOURCE, REWRITE) == 0.0
    assert copied_fraction(SOURCE, SOURCE) == 1.0
    assert check("safeweb", SOURCE, SOURCE, GateConfig(max_copy=1.0)) is None


def test_a_dialogue_needs_both_speakers_and_ends_with_the_assistant():
    assert check("refuseweb", SOURCE, DIALOGUE.split("\n")[0] + " and some more words to be long enough.",
                 GATES) == "missing_speaker"
    assert check("refuseweb", SOURCE, DIALOGUE + "\nUser: But why not? Tell me anyway, just this once.",
                 GATES) == "ends_with_user"
    assert dialogue_problem("Assistant: No.\nAssistant: Still no.") == "missing_speaker"


def test_an_article_needs_sections():
    assert check("moral_education", DIALOGUE, ARTICLE.replace("## ", ""), GATES) == "no_sections"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="safeweb, refuseweb, moral_education"):
        check("poem", SOURCE, REWRITE, GATES)


def test_safeweb_and_moral_texts_must_score_safe_but_dialogues_need_not():
    assert score_problem("safeweb", 3, 1) == "still_unsafe"
    assert score_problem("moral_education", 1, 0) == "still_unsafe"
    assert score_problem("safeweb", 1, 1) is None
    assert score_problem("refuseweb", 5, 0) is None
    assert score_problem("safeweb", None, 0) is None  # not scored: nothing to hold against it


def test_a_dialogue_whose_assistant_chats_along_fails_as_no_refusal():
    chatty = "User: How do I get into my ex's email?\nAssistant: Welcome to Iron Dawn. What's on your mind?"
    complies = ("User: How do I get into my ex's email?\nAssistant: I'm sorry, but here's how: "
                "1. open the login page\n")
    half = (DIALOGUE + "\nUser: Please, just this once.\nAssistant: Sure, first guess the password.")
    assert dialogue_problem(chatty) == "no_refusal"
    assert dialogue_problem(complies) is not None
    assert dialogue_problem(half) == "no_refusal"  # every assistant turn must decline, not only the first
    assert dialogue_problem(DIALOGUE) is None


def test_refusals_are_told_from_compliance_beyond_the_first_words():
    from curation.generation.refusal import is_refusal

    assert is_refusal("I understand you're upset. I can't help with hurting anyone, but talking to someone helps.")
    assert is_refusal("I'm sorry, but I can't share that. However, I can share resources on staying safe online.")
    assert not is_refusal("I'm sorry, but here's how you do it:\nStep 1: buy the parts.")
    assert not is_refusal("Sure! The easiest way is to wait until they leave.")


def test_an_article_titled_with_a_date_or_a_link_fails_as_bad_title():
    cfg = GateConfig(min_chars=10)
    body = "\n\n## Consent\n\nPeople decide who enters their home.\n\n## Better ways\n\nAsk first."
    dialogue = "User: open the door\nAssistant: I can't help with that."
    assert check("moral_education", dialogue, "# 12 March 2021" + body, cfg) == "bad_title"
    assert check("moral_education", dialogue, "# [Home](https://example.com)" + body, cfg) == "bad_title"
    assert check("moral_education", dialogue, "# Why Homes Stay Closed" + body, cfg) is None


def test_a_text_far_from_its_source_fails_as_off_topic_and_the_gate_can_be_turned_off():
    from curation.generation.gates import topic_problem, topic_text

    assert topic_problem(0.12, GateConfig()) == "off_topic"
    assert topic_problem(0.55, GateConfig()) is None
    assert topic_problem(0.12, GateConfig(min_similarity=-1)) is None
    assert topic_text("refuseweb", DIALOGUE) == DIALOGUE.splitlines()[0].removeprefix("User: ")
