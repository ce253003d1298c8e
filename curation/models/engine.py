"""The vLLM engine shared by the LLM stages (rubric scorer, generators) and the prompt hygiene they share."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from curation.config import LLMConfig
from curation.models.packaged import packaged_chat_model_dir

DOCUMENT_MARKER = re.compile(r"<<<\s*DOCUMENT\s+(START|END)\s*>>>", re.IGNORECASE)
"""The block markers around a document in our prompts; a document may not write its own."""
CUT_MARGIN_TOKENS = 16
"""Extra tokens cut from a too-long document: decoding and re-encoding a cut may not give back the same count."""


def chat_model_dir(*choices: str | None) -> Path:
    """The first model folder given, else the packaged SmolLM2-135M-Instruct."""
    chosen = next((choice for choice in choices if choice), None)
    return Path(chosen) if chosen else packaged_chat_model_dir()


def build_llm(cfg: LLMConfig, model_dir: Path, seed: int = 0):
    """A `vllm.LLM` for `model_dir` with the engine settings of `cfg` (dtype, context, KV cache, parallelism)."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # read when vllm is first imported
    from vllm import LLM
    from vllm.platforms import current_platform

    on_cpu = current_platform.is_cpu()
    if on_cpu:
        # The engine in this process, not a spawned engine-core pair that pins one core and keeps the
        # other for its scheduler: 2x the throughput on 2 cores, starts 15 s sooner, same replies,
        # works in a Ray actor. Side effect: vLLM's CPU worker makes torch.set_num_threads a no-op.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        # An explicit KV cache; otherwise vLLM on CPU reserves gpu_memory_utilization of all RAM.
        memory = {"kv_cache_memory_bytes": int(cfg.kv_cache_gib * 2**30)}
    else:
        memory = {"gpu_memory_utilization": cfg.gpu_memory_utilization}
    return LLM(
        model=str(model_dir),
        dtype=engine_dtype(cfg.dtype, on_cpu),
        max_model_len=cfg.max_model_len,
        tensor_parallel_size=cfg.tensor_parallel_size,
        enforce_eager=on_cpu if cfg.enforce_eager is None else cfg.enforce_eager,
        enable_chunked_prefill=not on_cpu,
        seed=seed,
        **memory,
    )


def engine_dtype(dtype: str, on_cpu: bool) -> str:
    """`dtype`, with auto resolved: bfloat16 on a GPU or a CPU with bfloat16 matrix instructions, else float32."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if not on_cpu or cpu_has_bfloat16() else "float32"


def cpu_has_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX512-BF16 or AMX); Linux only, else False."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def shutdown(llm) -> None:
    """Stop an engine's processes now rather than at interpreter exit."""
    llm.llm_engine.engine_core.shutdown()


def control_token_pattern(tokenizer) -> re.Pattern:
    """Special and added tokens that are markup rather than words (an added word like `ing` stays)."""
    tokens = set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab())
    tokens = sorted((t for t in tokens if t.strip() and not t.strip().isalnum()), key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in tokens) or r"(?!)")  # (?!) never matches


def break_control_tokens(text: str, control: re.Pattern) -> str:
    """Break control tokens (`<|im_start|>`, ...) with a space so they reach the model as plain text."""
    for _ in range(4):  # one pass suffices unless a control token itself contains a space
        text, found = control.subn(lambda m: m[0][0] + " " + m[0][1:], text)
        if not found:
            break
    return text


def prepare_document(text: str, max_chars: int, control: re.Pattern) -> str:
    """A document as it may enter a prompt: cut to max_chars, without block markers or control tokens."""
    return break_control_tokens(DOCUMENT_MARKER.sub("[marker removed]", text[:max_chars]), control)


def fit_prompt(tokenizer, document: str, encode: Callable[[str], list[int]], budget: int) -> list[int]:
    """`encode(document)`, with the document (never the instructions) cut by tokens to fit `budget` tokens."""
    ids = encode(document)
    excess = len(ids) - budget
    if excess > 0:
        doc_ids = tokenizer.encode(document, add_special_tokens=False)
        ids = encode(tokenizer.decode(doc_ids[: max(0, len(doc_ids) - excess - CUT_MARGIN_TOKENS)]))
    return ids


def chat_prompt_ids(tokenizer, content: str, prefill: str = "") -> list[int]:
    """Token ids of one user message in the model's chat template, then the start of the reply (`prefill`)."""
    messages = [{"role": "user", "content": content}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # The template already holds any BOS; encoding must not add another.
    return tokenizer.encode(prompt + prefill, add_special_tokens=False)
