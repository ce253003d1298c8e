"""The run: plan shards, start Ray, stream rows through the stages, commit each shard, record failures.
This layer moves rows; what a stage computes lives in curation.stages."""
