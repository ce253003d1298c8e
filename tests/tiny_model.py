"""A tiny random-weight chat model for tests that need a real vLLM engine but not real replies."""

from __future__ import annotations

from pathlib import Path

from curation.models.packaged import smollm2_gguf


def tiny_chat_model_dir(dest: str | Path, seed: int = 0) -> Path:
    """Write a tiny random-weight Llama with the SmolLM2 tokenizer and chat template, for fast tests.

    Its replies are noise, but it runs in vLLM like the real model (head_dim 64: vLLM's CPU
    attention rejects smaller heads).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    dest = Path(dest)
    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest
