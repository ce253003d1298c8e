"""Submitting curation runs to Ray clusters with GPU actor pools."""
