"""What a run did, shard by shard, and the `_failed/` records of the shards that did not commit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from curation.io.shards import shard_stem
from curation.io.storage import Store


@dataclass
class RunSummary:
    """What a run did, shard by shard."""

    committed: dict[str, dict] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    actors: list[dict] = field(default_factory=list)
    """Where each stage actor ran: stage, node_id, ip, pid, gpu_ids (as Ray gave them), cuda_devices (as it saw)."""

    @property
    def ok(self) -> bool:
        return not self.failed


def record_failures(store: Store, summary: RunSummary) -> None:
    """`OUT/_failed/S.json` for each shard that failed this run (the stage that failed it, if one did, the reason,
    when, how many runs in a row it has failed); the record of a shard that committed is removed. A re-run redoes
    exactly the uncommitted shards."""
    for stem in summary.committed:
        store.delete(f"_failed/{stem}.json")
    for path, reason in summary.failed.items():
        record = f"_failed/{shard_stem(path)}.json"
        previous = json.loads(store.read_bytes(record) or b"{}")
        stage = reason.split(":", 1)[0].removeprefix("stage ") if reason.startswith("stage ") else None
        store.write_bytes(record, json.dumps({
            "shard": str(path), "stage": stage, "reason": reason, "failed_runs": previous.get("failed_runs", 0) + 1,
            "last_failed_at": datetime.now(UTC).isoformat(timespec="seconds")}, indent=2).encode())
