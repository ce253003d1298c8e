"""The LLM half of the safety score: a chat model rates each document 0-5 with the paper's rubric."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from string import Template

from curation.config import LLMConfig
from curation.models import engine

RUBRIC = Template((Path(__file__).parent / "prompts" / "rubric.txt").read_text())
PREFILL = '{"score": '
"""The reply is prefilled with the start of its JSON (the paper: stops small models rambling first)."""
REPLY_OVERHEAD_TOKENS = 17
"""Worst-case tokens of a reply besides its reason: `3, "reason": "` and `"}` one token per char, EOS."""
MAX_REASON_CHARS = 40
RETRY_TEMPERATURE = 0.7
"""Retries sample instead of decoding greedily: a greedy retry would repeat the failed reply."""


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

    def __init__(self, cfg: LLMConfig, seed: int = 0, llm=None):
        """`llm`: an engine already running `cfg.model` (a generator's) to share instead of starting one."""
        self.cfg, self.seed = cfg, seed
        model_dir = engine.chat_model_dir(cfg.model)
        self.model_name = model_dir.name
        self.llm = llm if llm is not None else engine.build_llm(cfg, model_dir, seed)
        self.tokenizer = self.llm.get_tokenizer()
        self._control = engine.control_token_pattern(self.tokenizer)
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
        engine.shutdown(self.llm)

    def prompt_ids(self, text: str) -> list[int]:
        """Token ids sent for one document: chat template, rubric, cut and neutralised document, prefill."""
        document = engine.prepare_document(text, self.cfg.max_doc_chars, self._control)
        return engine.fit_prompt(self.tokenizer, document, self._encode, self.cfg.max_model_len - self.cfg.max_tokens)

    def _encode(self, document: str) -> list[int]:
        return engine.chat_prompt_ids(self.tokenizer, RUBRIC.substitute(document=document), PREFILL)

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
