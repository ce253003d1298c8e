"""The reliability suite's ledger: each test records what it tried (faults injected, hostile inputs) and the rows
that went in and came out; the session ends with a table of it (and reliability.json when RELIABILITY_JSON
names a file)."""

import json
import os
from dataclasses import asdict, dataclass

import pyarrow.parquet as pq
import pytest


@dataclass
class Entry:
    test: str
    tried: str
    faults: int = 0
    hostile: int = 0
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    rows_lost: int = 0
    duplicates: int = 0


LEDGER: list[Entry] = []


def account(out, inputs: dict[str, int]) -> tuple[int, int, int, int]:
    """(scored, rejected, lost, duplicated) input rows of the shards `inputs` (stem -> rows in) in folder `out`.
    An input row is in scored/ or among the `input` rejects (by row position) exactly once: scored ids are
    distinct, rejected positions are distinct, and scored + rejected = rows in."""
    scored_n = rejected_n = lost = duplicated = 0
    for stem, rows_in in inputs.items():
        manifest = json.loads((out / "_manifest" / f"{stem}.json").read_text())
        assert manifest["counts"]["in"] == rows_in
        rejects = [r for r in pq.read_table(out / "rejects" / f"{stem}.parquet").to_pylist() if r["stage"] == "input"]
        positions = {r["row_index"] for r in rejects}
        ids = pq.read_table(out / "scored" / f"{stem}.parquet", columns=["id"])["id"].to_pylist()
        duplicated += (len(rejects) - len(positions)) + (len(ids) - len(set(ids)))
        duplicated += max(0, len(ids) + len(positions) - rows_in)
        lost += max(0, rows_in - len(ids) - len(positions))
        scored_n += len(ids)
        rejected_n += len(rejects)
    return scored_n, rejected_n, lost, duplicated


@pytest.fixture
def ledger(request):
    """`ledger(tried, faults=..., hostile=..., out=folder, inputs={stem: rows})` adds one line to the table."""

    def record(tried: str, faults: int = 0, hostile: int = 0, out=None, inputs: dict[str, int] | None = None,
               **counts) -> Entry:
        entry = Entry(request.node.name, tried, faults, hostile, **counts)
        if out is not None:
            entry.rows_in = sum(inputs.values())
            entry.rows_out, entry.rows_rejected, entry.rows_lost, entry.duplicates = account(out, inputs)
        LEDGER.append(entry)
        return entry

    return record


def pytest_terminal_summary(terminalreporter):
    if not LEDGER:
        return
    headers = ["test", "tried", "faults", "hostile", "rows in", "rows out", "rejected", "lost", "duplicates"]
    rows = [[e.test[:48], e.tried[:60], e.faults, e.hostile, e.rows_in, e.rows_out, e.rows_rejected, e.rows_lost,
             e.duplicates] for e in LEDGER]
    totals = ["total", "", *(sum(r[i] for r in rows) for i in range(2, len(headers)))]
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, totals, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    terminalreporter.section("reliability: what was tried, and where every row went")
    for cells in [headers, ["-" * w for w in widths], *rows, ["-" * w for w in widths], totals]:
        terminalreporter.write_line(line(cells))
    path = os.environ.get("RELIABILITY_JSON")
    if path:
        with open(path, "w") as handle:
            json.dump({"entries": [asdict(e) for e in LEDGER], "totals": dict(zip(headers[2:], totals[2:],
                                                                                   strict=True))}, handle, indent=2)
