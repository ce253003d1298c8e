"""Report cards: per shard (JSON, Markdown, HTML), the corpus card, harmful n-gram rates."""
