"""`make sources`: fetch the public labeled sources' files into the folder `make head`, `make quality` and
`make unseen` read.

    python -m curation.fitting.fetch --raw labeled/raw [--only davidson toxigen] [--base-url https://github.com/]

For each source (curation/fitting/sources: the training sources, then the unseen ones) a shallow git fetch of its
repository at the commit it names (the default branch's head otherwise), then its files and folders copied to
`RAW/<owner>+<repo>/<path>`, each written under a temporary name and renamed, so an interrupted run leaves no half
file. A source already complete in RAW is skipped; one that cannot be fetched is reported and the exit code is 1.
Build time only: nothing at run time downloads data.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from curation.fitting.sources import Source, all_sources, unseen_sources


def git(*args: str, cwd: Path) -> bytes:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()[-300:]}")
    return done.stdout


def fetch_source(source: Source, raw: Path, base_url: str) -> None:
    """Copy the source's files and folders from its repository into `raw`."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        git("init", "-q", cwd=repo)
        git("fetch", "-q", "--depth", "1", f"{base_url.rstrip('/')}/{source.repo}", source.commit or "HEAD", cwd=repo)
        paths = list(source.files)
        for folder in source.folders:
            listed = git("ls-tree", "-r", "--name-only", "FETCH_HEAD", "--", folder, cwd=repo).decode().splitlines()
            if not listed:
                raise RuntimeError(f"{source.repo} has no folder {folder}")
            paths += listed
        for path in paths:
            data = git("show", f"FETCH_HEAD:{path}", cwd=repo)
            if data.startswith(b"version https://git-lfs"):
                raise RuntimeError(f"{source.repo}:{path} is a Git LFS pointer, not the file")
            target = source.path(raw, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(data)
            os.replace(partial, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="folder to fill, <owner>+<repo>/<path>")
    parser.add_argument("--only", nargs="*", help="source names (default: every source)")
    parser.add_argument("--base-url", default="https://github.com/", help="where the repositories are served")
    args = parser.parse_args()
    sources = [s for s in all_sources() + unseen_sources() if not args.only or s.name in args.only]
    failed = []
    for source in sources:
        if source.available(args.raw):
            print(f"{source.name:<20} present")
            continue
        try:
            fetch_source(source, args.raw, args.base_url)
            print(f"{source.name:<20} fetched from {source.repo}", flush=True)
        except RuntimeError as exc:
            failed.append(source.name)
            print(f"{source.name:<20} FAILED: {exc}", file=sys.stderr, flush=True)
    if failed:
        print(f"{len(failed)} of {len(sources)} sources not fetched: {', '.join(failed)}; `make head` and "
              "`make unseen` skip them", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
