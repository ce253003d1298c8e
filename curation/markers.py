"""Marker strings shared by curation (which writes them) and training (which makes them special tokens)."""

REFLECTION_OPEN = "<reflection>"
REFLECTION_CLOSE = "</reflection>"
HARM_TAG = "<potentially_unsafe_content>"
"""The harmfulness tag of Safety Pretraining's Algorithm 2, inserted into unsafe training text."""
SPECIAL_TOKENS = (HARM_TAG, REFLECTION_OPEN, REFLECTION_CLOSE)
"""Tokens the training tokenizer adds, each encoding to a single id."""
