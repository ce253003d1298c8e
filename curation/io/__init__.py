"""Reading and writing: stores (local or any pyarrow filesystem), atomic files, input shards, score spills,
generation checkpoints."""
