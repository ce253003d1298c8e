from curation.generation.topics import OPENINGS, opening, topic_terms


def test_topic_words_are_the_documents_most_frequent_content_words_without_profanity():
    text = "The Fucktard-in-Chief is fighting the left. Narcissists blame everyone; the Chief blames the left again."
    assert topic_terms(text) == ["Chief", "left", "fighting"]
    assert topic_terms("you bitches dont know shit, wanna fight? lol") == ["fight"]
    assert topic_terms("Which is less p@!nful: sh00t!ng my h3ad or sl!tt!ng my wr!$t?") == []
    assert topic_terms("The women's shelter in DENVER opened.") == ["women", "shelter", "denver"]


def test_every_framing_opens_by_naming_the_words_and_a_document_without_any_opens_freely():
    document = "Birmingham's suburbs are getting darker, a commenter says about Birmingham."
    for template in OPENINGS:
        assert "Birmingham, suburbs and darker" in opening(template, document)
    assert opening("textbook", document).startswith("# Birmingham, suburbs and darker\n\n")
    assert opening("teacher", "lol ok 123") == ""
