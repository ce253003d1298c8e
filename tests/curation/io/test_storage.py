"""Shards and outputs on other filesystems than the local disk: an S3 server on 127.0.0.1 (moto), reached
through pyarrow's S3 filesystem as a user's bucket would be."""

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.io.storage import Store, find_files, resolve
from tests.curation.run.test_pipeline import output_bytes, shard_columns

pytestmark = pytest.mark.timeout(600)
FAST = ["scoring.llm.enabled=false", "generation.enabled=false", "resources.embed.batch_size=16",
        "resources.read_rows_per_task=8", "report.ngrams=false"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A local S3 endpoint with the bucket `bkt`; the environment points pyarrow (and subprocesses) at it.

    The server runs in its own process: moto's in-process server imports Flask, whose context proxies break
    vLLM's kernel registration in any later test that starts an engine in this process."""
    pytest.importorskip("moto")
    import socket
    import time

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("the local S3 server did not start")
            time.sleep(0.2)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    resolve("s3://bkt?allow_bucket_creation=true")[0].create_dir("bkt")
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.terminate()
    server.wait(timeout=30)


def test_local_globs_match_the_shell(tmp_path):
    for rel in ("a.parquet", "b.parquet", "sub/c.parquet", "sub/deep/d.parquet", ".hidden.parquet", "x.txt",
                "sub/.tmp/e.parquet"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    for pattern in ("*.parquet", "?.parquet", "[ab].parquet", "sub/*.parquet", "**/*.parquet", "*/*.parquet",
                    "sub/**/*.parquet", "nothing/*.parquet"):
        expected = sorted(p for p in glob.glob(str(tmp_path / pattern), recursive=True) if os.path.isfile(p))
        assert find_files(str(tmp_path / pattern)) == expected, pattern
    assert find_files(str(tmp_path)) == [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    assert find_files(str(tmp_path / "a.parquet")) == [str(tmp_path / "a.parquet")]


def test_an_s3_store_writes_reads_lists_and_deletes(s3, monkeypatch):
    store = Store("s3://bkt/store-test")
    table = pa.table({"x": [1, 2, 3]})
    store.write_parquet("scored/a.parquet", table)
    store.write_bytes("_manifest/a.json", b'{"ok": true}')
    assert store.read_parquet("scored/a.parquet").equals(table)
    assert store.names("scored", ".parquet") == ["a.parquet"] and store.names("missing") == []
    assert store.exists("_manifest/a.json") and store.read_bytes("_manifest/nope.json") is None
    assert find_files("s3://bkt/store-test/scored/*.parquet") == ["s3://bkt/store-test/scored/a.parquet"]
    assert find_files("s3://bkt/store-test/scored") == ["s3://bkt/store-test/scored/a.parquet"]

    def fails_midway(table, sink, **kwargs):
        sink.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", fails_midway)
    with pytest.raises(OSError, match="disk full"):
        store.write_parquet("scored/b.parquet", table)
    assert not store.exists("scored/b.parquet")  # nothing uploaded: no half-written object under the name
    store.delete("scored/a.parquet")
    assert store.names("scored") == []


def curate(env: dict, shards: str, out: str, *extra: str) -> subprocess.CompletedProcess:
    sets = [arg for s in FAST for arg in ("--set", s)]
    return subprocess.run([sys.executable, "-m", "curation.cli", "curate", "--shards", shards, "--out", out,
                           "--no-progress", *sets, *extra], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=500, cwd=Path(__file__).parents[3])


def test_curation_reads_and_writes_s3_like_a_local_folder(s3, tmp_path):
    """Shards planned from an s3:// glob, outputs committed to s3://: the same rows, scores and cards as a local
    run of the same shards; a re-run skips every committed shard."""
    local_in = tmp_path / "in"
    local_in.mkdir()
    source = Store("s3://bkt/corpus")
    for k in range(2):
        table = pa.table(shard_columns(10 + k, with_id=k == 0))
        pq.write_table(table, local_in / f"part-{k}.parquet")
        source.write_bytes(f"part-{k}.parquet", (local_in / f"part-{k}.parquet").read_bytes())

    remote = curate(s3, "s3://bkt/corpus/*.parquet", "s3://bkt/out")
    assert remote.returncode == 0, remote.stderr[-3000:]
    local = curate(s3, str(local_in / "*.parquet"), str(tmp_path / "out"))
    assert local.returncode == 0, local.stderr[-3000:]

    out = Store("s3://bkt/out")
    for k in range(2):
        stem = f"part-{k}"
        for folder in ("scored", "rejects", "reflections", "safeweb"):
            got = out.read_parquet(f"{folder}/{stem}.parquet")
            want = pq.read_table(tmp_path / "out" / folder / f"{stem}.parquet")
            assert got.equals(want), (folder, stem)
        got_card = json.loads(out.read_bytes(f"reports/{stem}.json"))
        want_card = json.loads((tmp_path / "out" / "reports" / f"{stem}.json").read_text())
        for card in (got_card, want_card):
            card.pop("seconds")
        assert got_card.pop("input") == f"s3://bkt/corpus/{stem}.parquet"
        assert want_card.pop("input") == str(local_in / f"{stem}.parquet")
        assert got_card == want_card
        manifest = json.loads(out.read_bytes(f"_manifest/{stem}.json"))
        assert manifest["input"]["path"] == f"s3://bkt/corpus/{stem}.parquet"
        assert manifest["counts"]["in"] == 13 + k

    before = {name: out.read_bytes(f"_manifest/{name}") for name in out.names("_manifest")}
    again = curate(s3, "s3://bkt/corpus", "s3://bkt/out")  # a folder URI: its *.parquet
    assert again.returncode == 0, again.stderr[-3000:]
    assert "skipping 2 committed shard(s)" in again.stdout + again.stderr
    assert {name: out.read_bytes(f"_manifest/{name}") for name in out.names("_manifest")} == before
    assert output_bytes(tmp_path / "out")  # the local run wrote its folder

    report = subprocess.run([sys.executable, "-m", "curation.cli", "report", "s3://bkt/out"],
                            env={**os.environ, **s3}, capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).parents[3])
    assert report.returncode == 0, report.stderr[-2000:]
    assert json.loads(out.read_bytes("report.json"))["shards"] == 2
