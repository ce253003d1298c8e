import pyarrow as pa
import pytest

from curation.config import InputConfig
from curation.io.shards import (
    ShardError,
    find_shards,
    inspect_shard,
    read_task_rows,
    read_tasks,
    shard_stem,
    validate_texts,
)


def test_bad_rows_get_a_reason_and_good_rows_keep_their_text():
    column = pa.array(["fine text", None, "", "  \n ", "x" * 50])
    texts, reasons = validate_texts(column, InputConfig(max_chars=20))
    assert texts == ["fine text", None, None, None, None]
    assert reasons == [None, "null_text", "empty_text", "empty_text", "too_long"]


def test_binary_text_is_decoded_or_rejected():
    texts, reasons = validate_texts(pa.array([b"caf\xc3\xa9", b"\xff\xfe broken"], pa.binary()), InputConfig())
    assert texts == ["café", None]
    assert reasons == [None, "undecodable_text"]


def test_non_string_text_column_rejects_every_row():
    _, reasons = validate_texts(pa.array([1, 2]), InputConfig())
    assert reasons == ["non_string_text:int64", "non_string_text:int64"]


def test_read_tasks_cover_every_row_once(write_shard):
    path = write_shard("s", {"text": [f"doc {i}" for i in range(25)]}, row_group_size=10)
    shard = inspect_shard(str(path), InputConfig())
    tasks = read_tasks(shard, rows_per_task=4)
    rows = [r for t in tasks for r in read_task_rows(t, InputConfig())["row_index"].to_pylist()]
    assert sorted(rows) == list(range(25)) and len(rows) == 25
    texts = [r for t in tasks for r in read_task_rows(t, InputConfig())["text"].to_pylist()]
    assert sorted(texts) == sorted(f"doc {i}" for i in range(25))


def test_unreadable_file_and_missing_column_name_the_file(write_shard, tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ShardError, match="broken.parquet: not a readable Parquet file"):
        inspect_shard(str(broken), InputConfig())
    path = write_shard("nocol", {"body": ["x"]})
    with pytest.raises(ShardError, match="nocol.parquet: no text column 'text'"):
        inspect_shard(str(path), InputConfig())


def test_shard_names_cannot_escape_the_output_folder():
    assert shard_stem("/data/../../x.parquet") == "x"
    assert "/" not in shard_stem("/data/we ird/..hidden$.parquet")
    assert not shard_stem("/data/..parquet").startswith(".")


def test_empty_glob_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no input shards match"):
        find_shards(str(tmp_path / "*.parquet"))
