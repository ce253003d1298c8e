"""LLM engines side by side: vLLM (the CPU build here, CUDA on a GPU) against Hugging Face `generate`, same model,
same prompts, same greedy decoding and token budget, same device and dtype, in one run.

Both engines run where vLLM's build runs: on the CPU build in float32 on the CPU; on the CUDA build on the GPU with
cluster/gpu.yaml's engine settings (dtype, memory share, compiled), transformers on the GPU in the same dtype.

Each engine writes `--max-tokens` tokens for each of `--prompts` chat prompts (the generators' kind of request);
the figure is generated tokens per second over the whole batch after a warm-up, with the engine's own
batching (vLLM: one call with every prompt; transformers: left-padded batches of `--hf-batch`). Then vLLM's
tokens/s by batch size (prompts per call) for each of `--dtypes`: how much a stage gains by handing the engine
more requests at once.

    python -m benchmarks.engines [--prompts 8] [--max-tokens 64] [--hf-batch 8] [--model DIR]
                                 [--batch-sizes 1 8 32 64 128] [--dtypes float32 bfloat16]
                                 [--json benchmarks/results/engines.json]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmarks.common import table, write_json
from curation.config import LLMConfig, load_config

ROOT = Path(__file__).parents[1]
PROFILE = ROOT / "cluster" / "gpu.yaml"
REQUESTS = [
    "Rewrite this note as a short lesson for a school newsletter: the river floods every spring.",
    "Explain to a ten-year-old why we wash our hands before eating.",
    "Write a polite reply refusing to share a neighbour's home address.",
    "Summarise the rules of chess castling in two sentences.",
    "Describe how a library lends books, as an encyclopedia entry.",
    "Turn this into a dialogue between a user and an assistant: how do bees make honey?",
    "Write a short article on why online rumours spread fast, with two headings.",
    "Give three safe tips for a first solo hike.",
]


def prompts(tokenizer, count: int) -> list[str]:
    return [tokenizer.apply_chat_template([{"role": "user", "content": REQUESTS[i % len(REQUESTS)]}],
                                          tokenize=False, add_generation_prompt=True) for i in range(count)]


def engine_settings() -> tuple[str, LLMConfig]:
    """(device, vLLM settings): cuda and cluster/gpu.yaml's engine settings on vLLM's CUDA build, else cpu and
    float32 with a 1,024-token context."""
    from vllm.platforms import current_platform

    if current_platform.is_cuda():
        return "cuda", load_config(PROFILE).scoring.llm.model_copy(update={"model": None})
    return "cpu", LLMConfig(max_model_len=1024)


def run_vllm(model_dir: Path, texts: list[str], max_tokens: int, threads: int, cfg: LLMConfig,
             batch_sizes: list[int] = ()) -> dict:
    """vLLM on `texts` in one call; then, per batch size, one call with that many prompts (the sweep)."""
    from vllm import SamplingParams

    from curation.models.engine import build_llm, shutdown

    started = time.perf_counter()
    llm = build_llm(cfg, model_dir)
    load = time.perf_counter() - started
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)

    def timed(part: list[str]) -> tuple[int, float]:
        started = time.perf_counter()
        outputs = llm.generate(part, params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outputs), time.perf_counter() - started

    try:
        llm.generate(texts[:1], params, use_tqdm=False)  # warm up
        tokens, seconds = timed(texts)
        sweep = []
        for size in batch_sizes:
            done, spent = timed([texts[i % len(texts)] for i in range(size)])
            sweep.append({"batch": size, "tokens": done, "seconds": round(spent, 2),
                          "tokens_per_s": round(done / spent, 1)})
    finally:
        shutdown(llm)
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
            "load_seconds": round(load, 1), "threads": threads, "dtype": cfg.dtype, "by_batch": sweep}


def run_hf(model_dir: Path, texts: list[str], max_tokens: int, batch: int, threads: int, device: str,
           dtype: str) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).to(device).eval()
    load = time.perf_counter() - started
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token

    def generate(part: list[str]) -> int:
        encoded = tokenizer(part, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.inference_mode():
            out = model.generate(**encoded, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        return int((out.shape[1] - encoded["input_ids"].shape[1]) * out.shape[0])

    generate(texts[:1])  # warm up
    started = time.perf_counter()
    tokens = sum(generate(texts[i:i + batch]) for i in range(0, len(texts), batch))
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
            "load_seconds": round(load, 1), "threads": threads, "batch": batch, "dtype": dtype}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--hf-batch", type=int, default=8)
    parser.add_argument("--model", type=Path, default=None, help="a model folder (default: the packaged SmolLM2)")
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[1, 8, 32, 64, 128],
                        help="vLLM throughput by batch size: prompts per call (each dtype below)")
    parser.add_argument("--dtypes", nargs="*", default=["float32", "bfloat16"],
                        help="vLLM dtypes to sweep; the first is also the one set against transformers")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "engines.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from transformers import AutoTokenizer

    from curation.models.engine import chat_model_dir

    model_dir = chat_model_dir(str(args.model) if args.model else None)
    texts = prompts(AutoTokenizer.from_pretrained(model_dir), args.prompts)
    threads = os.cpu_count() or 1
    device, cfg = engine_settings()
    dtypes = args.dtypes if device == "cpu" else [cfg.dtype]
    sweeps = {dtype: run_vllm(model_dir, texts, args.max_tokens, threads, cfg.model_copy(update={"dtype": dtype}),
                              args.batch_sizes) for dtype in dtypes}
    results = {"vllm": sweeps[dtypes[0]],
               "transformers": run_hf(model_dir, texts, args.max_tokens, args.hf_batch, threads, device, dtypes[0])}
    speedup = round(results["vllm"]["tokens_per_s"] / results["transformers"]["tokens_per_s"], 2)
    print(table(["engine", "tokens", "seconds", "tokens/s", "load s"],
                [[name, r["tokens"], r["seconds"], r["tokens_per_s"], r["load_seconds"]]
                 for name, r in results.items()]))
    print(f"vLLM / transformers: x{speedup} ({model_dir.name}, {args.prompts} prompts x {args.max_tokens} tokens, "
          f"both on {device} in {dtypes[0]})")
    print(table(["vLLM dtype", "prompts per call", "tokens", "seconds", "tokens/s"],
                [[dtype, row["batch"], row["tokens"], row["seconds"], row["tokens_per_s"]]
                 for dtype, result in sweeps.items() for row in result["by_batch"]]))
    write_json(args.json, {"benchmark": "engines", "model": model_dir.name, "device": device, "prompts": args.prompts,
                           "max_tokens": args.max_tokens, "engines": results, "vllm_over_transformers": speedup,
                           "vllm_by_batch": {dtype: result["by_batch"] for dtype, result in sweeps.items()}})


if __name__ == "__main__":
    main()
