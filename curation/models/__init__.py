"""The models and what turns their outputs into a safety score: packaged-model lookup, the encoder with its
heads, the vLLM engine, the LLM rubric scorer, the category head, the judge and the ensemble."""
