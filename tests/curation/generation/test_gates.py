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
