"""Measured throughput, scaling and cost of the curation stages."""
