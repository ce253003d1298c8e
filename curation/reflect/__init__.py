"""Safety reflections: a Safe/Unsafe label written into a document after every few hundred tokens."""
