"""Small tools beside the run: the cost planner and the bundled sample."""
