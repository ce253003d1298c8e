"""Safe Beam Search (Safety Pretraining, Algorithm 1) for Hugging Face causal language models.

Beams start at the prompt. At each step every beam proposes its top-N next tokens; for each candidate the
model is run one token ahead to get the probability that the harmfulness tag comes next (p_tag); the
`drop_fraction` of candidates with the highest p_tag is discarded, and the top-k of the rest by
log-likelihood become the new beams. The lookahead is one batched forward pass over all k x N candidates
on the beams' KV cache, and it is not wasted: the logits it computes are the next step's logits of the
candidates that survive, so a step costs one forward pass of k x N tokens where plain beam search runs k.

With drop_fraction 0 (and N >= k) this is standard beam search: the global top-k over k x vocabulary
lies within each beam's top-N. Finished hypotheses (a beam that emits `eos_token_id`) are scored as in
transformers: sum of log-probabilities / generated length ** length_penalty; the search stops when k of
them are in (early stopping) or at `max_new_tokens`. The tag itself is never emitted.

The paper leaves k and N open. N should exceed the number of likely harmful continuations: if every one
of a beam's top-N is harmful, dropping the half most likely to be tagged still leaves harmful ones. With a
12-word harmful family, N = 8 kept it and N = 32 (the default) avoided it in 11 of 11 prompts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass
class SearchResult:
    """The best sequence's new tokens and score, and what the safety filter did."""

    tokens: list[int]
    score: float
    """Sum of the new tokens' log-probabilities divided by their count ** length_penalty."""
    steps: int = 0
    dropped: int = 0
    """Candidates discarded for their tag probability, over all steps."""
    tag_probabilities: list[float] = field(default_factory=list)
    """Per step, the mean lookahead p_tag of the candidates that became beams."""


@dataclass
class _Beams:
    tokens: torch.Tensor  # (k, generated so far)
    scores: torch.Tensor  # (k,) summed log-probabilities
    next_logprobs: torch.Tensor  # (k, vocab) log-probabilities of the next token
    cache: object


def _forward(model, input_ids: torch.Tensor, cache, position: int):
    """Logits of the last position and the grown cache, for a batch that shares its length."""
    positions = torch.arange(position, position + input_ids.shape[1], device=input_ids.device).expand(
        input_ids.shape[0], -1)
    out = model(input_ids=input_ids, past_key_values=cache, position_ids=positions, use_cache=True)
    return out.logits[:, -1].float(), out.past_key_values


@torch.no_grad()
def safe_beam_search(model, prompt_ids: list[int] | torch.Tensor, tag_id: int | None, *, num_beams: int = 4,
                     top_n: int = 32, drop_fraction: float = 0.5, max_new_tokens: int = 32,
                     eos_token_id: int | list[int] | None = None, length_penalty: float = 1.0) -> SearchResult:
    """Decode a continuation of `prompt_ids` with Safe Beam Search (see the module docstring).

    `tag_id` None with drop_fraction 0 is plain beam search (for models without the tag token).
    """
    if not 0.0 <= drop_fraction < 1.0:
        raise ValueError(f"drop_fraction must be within [0, 1), got {drop_fraction}")
    if drop_fraction > 0 and tag_id is None:
        raise ValueError("safe beam search needs the model's tag token id (drop_fraction > 0)")
    if top_n < 1 or num_beams < 1:
        raise ValueError("num_beams and top_n must be at least 1")
    eos = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id or ())
    device = next(model.parameters()).device
    prompt = torch.as_tensor(prompt_ids, dtype=torch.long, device=device).reshape(1, -1)
    logits, cache = _forward(model, prompt, None, 0)
    beams = _Beams(prompt.new_zeros((1, 0)), torch.zeros(1, device=device), logits.log_softmax(-1), cache)
    finished: list[tuple[float, list[int]]] = []
    result = SearchResult([], -math.inf)
    for step in range(max_new_tokens):
        position = prompt.shape[1] + step
        candidate_scores = beams.scores[:, None] + beams.next_logprobs
        if tag_id is not None:
            candidate_scores[:, tag_id] = -math.inf  # the tag is never emitted
        top_scores, top_tokens = candidate_scores.topk(min(top_n, candidate_scores.shape[1]), dim=-1)
        parents = torch.arange(len(top_tokens), device=device).repeat_interleave(top_tokens.shape[1])
        scores, tokens = top_scores.reshape(-1), top_tokens.reshape(-1)
        beams.cache.reorder_cache(parents)  # one cache row per candidate
        logits, cache = _forward(model, tokens[:, None], beams.cache, position)  # the lookahead
        logprobs = logits.log_softmax(-1)
        p_tag = logprobs[:, tag_id].exp() if tag_id is not None else torch.zeros_like(scores)

        allowed = torch.ones_like(scores, dtype=torch.bool)
        drop = int(drop_fraction * len(scores))
        if drop:
            allowed[p_tag.argsort(descending=True, stable=True)[:drop]] = False
            result.dropped += drop
        order = [i for i in scores.argsort(descending=True, stable=True).tolist() if allowed[i]]
        keep = []
        for rank, i in enumerate(order):
            if tokens[i].item() in eos:
                if rank < num_beams:  # an end among the best k candidates finishes a hypothesis
                    sequence = beams.tokens[parents[i]].tolist() + [tokens[i].item()]
                    finished.append((scores[i].item() / (len(sequence) ** length_penalty), sequence))
                continue
            keep.append(i)
            if len(keep) == num_beams:
                break
        result.steps = step + 1
        if len(finished) >= num_beams or not keep:
            break
        chosen = torch.tensor(keep, device=device)
        result.tag_probabilities.append(p_tag[chosen].mean().item())
        cache.reorder_cache(chosen)
        beams = _Beams(torch.cat([beams.tokens[parents[chosen]], tokens[chosen, None]], dim=1), scores[chosen],
                       logprobs[chosen], cache)
    else:
        length = beams.tokens.shape[1]
        finished += [(score / (length ** length_penalty), row) for score, row in
                     zip(beams.scores.tolist(), beams.tokens.tolist(), strict=True)]
    if finished:
        best_score, best = max(finished, key=lambda item: item[0])
        result.tokens, result.score = best, best_score
    return result
