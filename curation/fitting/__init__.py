"""Build-time code: labeled sources, the training table, head fitting. Never imported by inference."""
