"""Safe Beam Search cost: seconds per generated token against transformers' beam search on the same model.

For each model and prompt: transformers' `generate(num_beams=k)` (plain beam search), then Safe Beam
Search with k beams and N candidates per beam for each N given (drop fraction 0.5). Prints per model and
method the seconds per generated token and the ratio to plain beam search, and writes JSON.

A model without the harmfulness tag (the packaged SmolLM2) is measured with its end-of-text token
standing in for the tag: the cost does not depend on which token is looked up, only the outputs do.

    python -m benchmarks.safe_beam [--model DIR ...] [--prompts FILE] [--max-new-tokens 32] [--beams 4]
                                   [--top-n 8 16 32] [--limit 6] [--threads 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from decoding.evaluate import DATA, load_prompts, tag_token_id
from decoding.safe_beam import safe_beam_search


def measure(model_dir: Path, prompts: list[str], beams: int, top_ns: list[int], max_new_tokens: int) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    tag = tag_token_id(tokenizer)
    has_tag = tag is not None
    tag = tag if has_tag else tokenizer.eos_token_id
    eos = tokenizer.eos_token_id
    runs: dict[str, dict] = {}

    def record(name: str, seconds: float, tokens: int) -> None:
        run = runs.setdefault(name, {"seconds": 0.0, "tokens": 0})
        run["seconds"] += seconds
        run["tokens"] += tokens

    for prompt in prompts:
        ids = tokenizer(prompt).input_ids
        started = time.perf_counter()
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 num_beams=beams, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                                 do_sample=False, early_stopping=True, pad_token_id=eos)
        record("beam", time.perf_counter() - started, out.shape[1] - len(ids))
        for n in top_ns:
            started = time.perf_counter()
            result = safe_beam_search(model, ids, tag, num_beams=beams, top_n=n, drop_fraction=0.5,
                                      max_new_tokens=max_new_tokens, eos_token_id=None)
            record(f"safe_beam N={n}", time.perf_counter() - started, len(result.tokens))
    base = runs["beam"]["seconds"] / max(runs["beam"]["tokens"], 1)
    for run in runs.values():
        run["seconds_per_token"] = run["seconds"] / max(run["tokens"], 1)
        run["ratio_to_beam"] = run["seconds_per_token"] / base
    parameters = sum(p.numel() for p in model.parameters())
    return {"model": str(model_dir), "parameters": parameters, "has_tag": has_tag, "runs": runs}


def main() -> None:
    from curation.models.engine import chat_model_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", default=None,
                        help="Hugging Face model folder (repeatable); default: runs/tiny/hf if present and SmolLM2")
    parser.add_argument("--prompts", type=Path, default=DATA / "harmful_prompts.jsonl")
    parser.add_argument("--limit", type=int, default=6, help="prompts measured per model")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--top-n", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/safe_beam.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = args.model or [m for m in (Path("runs/tiny/hf"), chat_model_dir()) if m.is_dir()]
    prompts = load_prompts(args.prompts)[: args.limit]
    results = []
    for model_dir in models:
        result = measure(model_dir, prompts, args.beams, args.top_n, args.max_new_tokens)
        results.append(result)
        print(f"{model_dir} ({result['parameters']:,} parameters{'' if result['has_tag'] else ', eos as tag'}), "
              f"{len(prompts)} prompts, {args.max_new_tokens} new tokens, k={args.beams}:")
        for name, run in result["runs"].items():
            print(f"  {name:<16} {1000 * run['seconds_per_token']:8.1f} ms/token  x{run['ratio_to_beam']:.2f}")
    report = {"machine": {"platform": platform.platform(), "cpus": torch.get_num_threads(),
                          "cuda": torch.cuda.is_available()},
              "torch": torch.__version__, "beams": args.beams, "max_new_tokens": args.max_new_tokens,
              "prompts": len(prompts), "results": results,
              "summary": {r["model"]: statistics.fmean(v["ratio_to_beam"] for k, v in r["runs"].items() if k != "beam")
                          for r in results}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
