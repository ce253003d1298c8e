"""What runs in a Ray worker: read tasks, and model stages that take a batch of rows, call a model on the valid
ones and append columns. A stage knows nothing of Ray; curation.run moves the rows."""
