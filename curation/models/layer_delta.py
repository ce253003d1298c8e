"""Tuned encoder layers on disk: their difference from the layers they were tuned from, a matrix as int8 per row.

Tuning moves each weight by about 5% of its size, so the difference quantized to 255 steps per matrix row is within
1e-4 of the tuned weight (float16 of the weight itself: 3e-5) at half the bytes of float16. Vectors (biases, layer
norms) are kept as float32 differences. The file names the layers it was tuned from by a fingerprint, and reading it
over any other layers is refused: the difference means nothing there.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

FORMAT = "int8-row-delta/1"
SCALE = ":scale"
"""Suffix of a matrix's per-row scales: difference = int8 value x scale."""


def fingerprint(base: Mapping[str, np.ndarray], names) -> str:
    """A short hash of the `names` parameters of `base` (float32 bytes, names sorted)."""
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(base[name], np.float32).tobytes())
    return digest.hexdigest()[:16]


def write_layers(path: str | Path, tuned: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray]) -> None:
    """Write `tuned` parameters as their difference from `base` (same names and shapes), atomically."""
    tensors = {}
    for name, value in tuned.items():
        delta = np.asarray(value, np.float32) - np.asarray(base[name], np.float32)
        if delta.ndim == 2:
            scale = np.abs(delta).max(axis=1) / 127
            tensors[name] = np.round(delta / np.where(scale > 0, scale, 1)[:, None]).astype(np.int8)
            tensors[name + SCALE] = scale.astype(np.float32)
        else:
            tensors[name] = np.ascontiguousarray(delta)
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata={"format": FORMAT, "base": fingerprint(base, tuned)})
    os.replace(partial, path)


def read_layers(path: str | Path, base: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tuned parameters (float32) in `path`, laid over `base`, the layers they were tuned from; ValueError when
    the file is of another format or `base` is not those layers."""
    with safe_open(str(path), framework="numpy") as stored:
        meta = stored.metadata() or {}
        tensors = {name: stored.get_tensor(name) for name in stored.keys()}  # noqa: SIM118 (not a dict)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file of tuned layers (format {meta.get('format')!r}); "
                         "rebuild it with `make head`")
    names = [name for name in tensors if not name.endswith(SCALE)]
    base = {n: np.asarray(base[n], np.float32) for n in names if n in base}  # each one looked up (converted) once
    wrong = sorted(n for n in names if n not in base or base[n].shape != tensors[n].shape)
    if wrong or fingerprint(base, names) != meta.get("base"):
        raise ValueError(f"{path} does not fit the encoder ({', '.join(wrong[:3]) or 'other weights'}): it was "
                         "tuned for another encoder (scoring.embed.model)")
    out = {}
    for name in names:
        delta = tensors[name].astype(np.float32)
        if name + SCALE in tensors:
            delta *= tensors[name + SCALE][:, None]
        out[name] = base[name] + delta
    return out
