"""Safe Beam Search and the base-model safety evaluation."""
