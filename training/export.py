"""Export a LitGPT checkpoint as a Hugging Face Llama folder (config, safetensors, tokenizer).

LitGPT's converter maps the weights to Hugging Face names; the config is written here from the LitGPT
config (it covers the Llama-style models this project trains: RMSNorm, LLaMAMLP, rotary embeddings).
The folder loads with `transformers.AutoModelForCausalLM` and with vLLM.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from curation.io.files import atomic_directory

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")


def hf_config(config, tie_embeddings: bool, tokenizer_dir: Path):
    """A `transformers.LlamaConfig` equal to a LitGPT Llama-style config."""
    from transformers import LlamaConfig

    from training.tokenizer import DOCUMENT_SEPARATOR, load

    if config.norm_class_name != "RMSNorm" or config.mlp_class_name != "LLaMAMLP" or config.parallel_residual:
        raise ValueError(f"export supports Llama-style models (RMSNorm, LLaMAMLP, sequential residual), "
                         f"not {config.name}")
    separator = load(tokenizer_dir).token_to_id(DOCUMENT_SEPARATOR)
    return LlamaConfig(
        vocab_size=config.padded_vocab_size,
        hidden_size=config.n_embd,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head,
        num_key_value_heads=config.n_query_groups,
        head_dim=config.head_size,
        max_position_embeddings=config.block_size,
        rms_norm_eps=config.norm_eps,
        rope_theta=config.rope_base,
        attention_bias=config.bias,
        mlp_bias=config.bias,
        tie_word_embeddings=tie_embeddings,
        bos_token_id=separator,
        eos_token_id=separator,
        torch_dtype="float32",
    )


def export_hf(checkpoint_dir: str | Path, dest: str | Path, tokenizer_dir: str | Path, tie_embeddings: bool) -> Path:
    """Write `dest` (atomically) from LitGPT's `checkpoint_dir` (lit_model.pth, model_config.yaml)."""
    import torch
    from litgpt import Config
    from litgpt.scripts.convert_lit_checkpoint import convert_lit_checkpoint
    from transformers import LlamaForCausalLM

    checkpoint_dir, dest, tokenizer_dir = Path(checkpoint_dir), Path(dest), Path(tokenizer_dir)
    config = Config.from_file(checkpoint_dir / "model_config.yaml")
    with atomic_directory(dest) as tmp:
        convert_lit_checkpoint(checkpoint_dir, tmp / "converted")
        weights = torch.load(tmp / "converted" / "model.pth", map_location="cpu", weights_only=True)
        model = LlamaForCausalLM(hf_config(config, tie_embeddings, tokenizer_dir))
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if unexpected or set(missing) - ({"lm_head.weight"} if tie_embeddings else set()):
            raise RuntimeError(f"{checkpoint_dir}: weights do not match the exported model: {missing=} {unexpected=}")
        if tie_embeddings:
            model.tie_weights()
        shutil.rmtree(tmp / "converted")
        model.save_pretrained(tmp, safe_serialization=True)
        for name in TOKENIZER_FILES:
            if (tokenizer_dir / name).is_file():
                shutil.copy2(tokenizer_dir / name, tmp / name)
    return dest
