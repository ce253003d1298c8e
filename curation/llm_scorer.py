"""The LLM half of the safety score: a chat model rates each document 0-5 with the paper's rubric."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from curation.config import LLMConfig
from curation.models import packaged_chat_model_dir

RUBRIC = Template((Path(__file__).parent / "prompts" / "rubric.txt").read_text())
PREFILL = '{"score": '
"""The reply is prefilled with the start of its JSON (the paper: stops small models rambling first)."""
REPLY_OVERHEAD_TOKENS = 17
"""Worst-case tokens of a reply besides its reason: `3, "reason": "` and `"}` one token per char, EOS."""
MAX_REASON_CHARS = 40
RETRY_TEMPERATURE = 0.7
"""Retries sample instead of decoding greedily: a greedy retry would repeat the failed reply."""
_MARKER = re.compile(r"<<<\s*DOCUMENT\s+(START|END)\s*>>>", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """One document's rating; score, reason and confidence are None when no reply parsed."""

    score: int | None
    reason: str | None
    confidence: float | None
    """The model's probability of the score it gave, among 0-5."""
    attempts: int


class RubricScorer:
    """Holds one vLLM engine and rates batches of documents with the rubric prompt."""

    def __init__(self, cfg: LLMConfig, seed: int = 0):
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # read when vllm is first imported
        from vllm import LLM
        from vllm.platforms import current_platform

        self.cfg, self.seed = cfg, seed
        model_dir = Path(cfg.model) if cfg.model else packaged_chat_model_dir()
        self.model_name = model_dir.name
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
        self.llm = LLM(
            model=str(model_dir),
            dtype=cfg.dtype,
            max_model_len=cfg.max_model_len,
            tensor_parallel_size=cfg.tensor_parallel_size,
            enforce_eager=on_cpu if cfg.enforce_eager is None else cfg.enforce_eager,
            seed=seed,
            **memory,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self._control = _control_token_pattern(self.tokenizer)
        room = cfg.max_model_len - cfg.max_tokens - len(self._encode(""))
        if room < 64:
            raise ValueError(
                f"scoring.llm.max_model_len={cfg.max_model_len} leaves {room} tokens for the document after "
                f"the rubric and max_tokens={cfg.max_tokens}: raise max_model_len"
            )
        reason_chars = max(1, min(MAX_REASON_CHARS, cfg.max_tokens - REPLY_OVERHEAD_TOKENS))
        # What follows PREFILL: a score 0-5, then a reason of printable ASCII without `"` or `\`.
        self._reply_regex = r'[0-5], "reason": "[A-Za-z][ !#-\[\]-~]{0,' + str(reason_chars - 1) + r'}"\}'

    def score(self, texts: list[str]) -> list[Verdict]:
        """Rate every text: one batched generate call per attempt, retrying only replies that failed."""
        prompts = [{"prompt_token_ids": self.prompt_ids(text)} for text in texts]
        verdicts: list[Verdict | None] = [None] * len(texts)
        todo = list(range(len(texts)))
        for attempt in range(1, self.cfg.retries + 2):
            if not todo:
                break
            batch = [prompts[i] for i in todo]
            outputs = self.llm.generate(batch, self._sampling(attempt), use_tqdm=False)
            for i, output in zip(todo, outputs, strict=True):
                verdicts[i] = _parse(output.outputs[0], attempt)
            todo = [i for i in todo if verdicts[i] is None]
        failed = Verdict(score=None, reason=None, confidence=None, attempts=self.cfg.retries + 1)
        return [verdict or failed for verdict in verdicts]

    def close(self) -> None:
        """Stop the engine's processes now rather than at interpreter exit."""
        self.llm.llm_engine.engine_core.shutdown()

    def prompt_ids(self, text: str) -> list[int]:
        """Token ids sent for one document: chat template, rubric, cut and neutralised document, prefill."""
        document = _MARKER.sub("[marker removed]", text[: self.cfg.max_doc_chars])
        document = self._neutralise(document)
        ids = self._encode(document)
        excess = len(ids) - (self.cfg.max_model_len - self.cfg.max_tokens)
        if excess > 0:  # cut the document (not the rubric) so prompt and reply fit the context
            doc_ids = self.tokenizer.encode(document, add_special_tokens=False)
            ids = self._encode(self.tokenizer.decode(doc_ids[: max(0, len(doc_ids) - excess - 16)]))
        return ids

    def _encode(self, document: str) -> list[int]:
        messages = [{"role": "user", "content": RUBRIC.substitute(document=document)}]
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # The template already holds any BOS; encoding must not add another.
        return self.tokenizer.encode(prompt + PREFILL, add_special_tokens=False)

    def _neutralise(self, text: str) -> str:
        """Break chat-template control tokens (`<|im_start|>`, ...) so they reach the model as plain text."""
        for _ in range(4):  # one pass suffices unless a control token itself contains a space
            text, found = self._control.subn(lambda m: m[0][0] + " " + m[0][1:], text)
            if not found:
                break
        return text

    def _sampling(self, attempt: int):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        return SamplingParams(
            temperature=0.0 if attempt == 1 else RETRY_TEMPERATURE,
            seed=self.seed + attempt,
            max_tokens=self.cfg.max_tokens,
            logprobs=0,  # the logprob of each generated token; the first one is the score digit
            structured_outputs=StructuredOutputsParams(regex=self._reply_regex),
        )


def _control_token_pattern(tokenizer) -> re.Pattern:
    """Special and added tokens that are markup rather than words (an added word like `ing` stays)."""
    tokens = set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab())
    tokens = sorted((t for t in tokens if t.strip() and not t.strip().isalnum()), key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in tokens) or r"(?!)")  # (?!) never matches


def _parse(completion, attempt: int) -> Verdict | None:
    """A Verdict from one completion, or None when the reply is not the complete JSON."""
    try:
        reply = json.loads(PREFILL + completion.text)
        score, reason = reply["score"], reply["reason"]
    except (ValueError, KeyError, TypeError):
        return None
    if type(score) is not int or not 0 <= score <= 5 or not isinstance(reason, str):
        return None
    confidence = None
    if completion.logprobs:  # the structured-output mask is applied first: a probability among 0-5
        confidence = round(math.exp(completion.logprobs[0][completion.token_ids[0]].logprob), 4)
    return Verdict(score=score, reason=reason.strip(), confidence=confidence, attempts=attempt)
