"""LitGPT pretraining on curated shards with the harmfulness tag token and safety reflections."""
