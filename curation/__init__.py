"""safecurate's curation engine: score, route and commit web-text shards for safety pretraining."""

__version__ = "0.1.0"
