"""The `safecurate` command as a user runs it: exit codes, messages, the sample corpus."""

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curation.cli import app
from curation.tools.sample import write_sample

pytestmark = pytest.mark.timeout(300)
runner = CliRunner()


def test_bad_override_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["curate", "--shards", str(tmp_path), "--out", str(tmp_path / "o"),
                                 "--set", "routing.keep_max=nine"])
    assert result.exit_code == 2
    assert "routing.keep_max" in result.output and "Traceback" not in result.output


def test_glob_matching_nothing_exits_2(tmp_path):
    result = runner.invoke(app, ["curate", "--shards", str(tmp_path / "none*.parquet"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no input shards match" in result.output


def test_sample_corpus_is_small_mixed_and_has_bad_rows(tmp_path):
    paths = write_sample(tmp_path)
    assert len(paths) == 4
    assert sum(p.stat().st_size for p in paths) < 1_000_000
    tables = [pq.read_table(p) for p in paths]
    assert sum(t.num_rows for t in tables) >= 150
    assert any("id" in t.column_names for t in tables) and any("id" not in t.column_names for t in tables)
    assert all(None in t["text"].to_pylist() for t in tables)


def test_failed_shard_makes_curate_exit_1_with_a_summary(ray_local, write_shard, tmp_path):
    write_shard("fine", {"text": ["A calm afternoon walk by the lake with the dog."] * 3})
    (tmp_path / "in" / "junk.parquet").write_text("definitely not parquet")
    result = runner.invoke(app, ["curate", "--shards", str(tmp_path / "in" / "*.parquet"), "--out",
                                 str(tmp_path / "out"), "--no-progress", "--set", "scoring.llm.enabled=false",
                                 "--set", "generation.enabled=false"])
    assert result.exit_code == 1
    assert "1 shard(s) committed" in result.output and "1 failed" in result.output
    assert "junk.parquet: not a readable Parquet file" in result.output
    assert (tmp_path / "out" / "_manifest" / "fine.json").exists()
    record = json.loads((tmp_path / "out" / "_failed" / "junk.json").read_text())
    assert record["failed_runs"] == 1 and "not a readable Parquet file" in record["reason"]

    again = runner.invoke(app, ["curate", "--shards", str(tmp_path / "in" / "*.parquet"), "--out",
                                str(tmp_path / "out"), "--no-progress", "--set", "scoring.llm.enabled=false",
                                "--set", "generation.enabled=false"])
    assert again.exit_code == 1 and "1 skipped as already committed" in again.output
    assert json.loads((tmp_path / "out" / "_failed" / "junk.json").read_text())["failed_runs"] == 2

    (tmp_path / "in" / "junk.parquet").unlink()
    write_shard("junk", {"text": ["Fixed now: a note about the weather."] * 2})
    fixed = runner.invoke(app, ["curate", "--shards", str(tmp_path / "in" / "*.parquet"), "--out",
                                str(tmp_path / "out"), "--no-progress", "--set", "scoring.llm.enabled=false",
                                "--set", "generation.enabled=false"])
    assert fixed.exit_code == 0 and "1 shard(s) committed" in fixed.output  # only the failed one is redone
    assert "1 skipped as already committed" in fixed.output
    assert (tmp_path / "out" / "_manifest" / "junk.json").exists()
    assert not (tmp_path / "out" / "_failed" / "junk.json").exists()
