"""Rewrites of routed documents on a chat model: SafeWeb framings, RefuseWeb dialogues, Moral Education articles."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from string import Template
from typing import NamedTuple

from curation.config import SAFEWEB_TEMPLATES, Config
from curation.generation.gates import check, score_problem, topic_problem, topic_text
from curation.generation.topics import opening as topic_opening
from curation.models.engine import (
    build_llm,
    chat_model_dir,
    chat_prompt_ids,
    control_token_pattern,
    fit_prompt,
    prepare_document,
    shutdown,
)
from curation.seeds import draw

log = logging.getLogger("safecurate")
PROMPTS = Path(__file__).parent / "prompts"
SAFEWEB = {name: Template((PROMPTS / "safeweb" / f"{name}.txt").read_text()) for name in SAFEWEB_TEMPLATES}
REFUSEWEB = Template((PROMPTS / "refuseweb.txt").read_text())
MORAL_EDUCATION = Template((PROMPTS / "moral_education.txt").read_text())
SPEAKERS = json.loads((PROMPTS / "speakers.json").read_text())
DIALOGUE_PREFILL = "User:"
"""RefuseWeb replies start with the first user turn, so a small model cannot open with a preamble; the turn opens
by quoting the document (`QUOTE_CHARS`), so that the request is about it."""
QUOTE_CHARS = 120
"""How much of its document a RefuseWeb user turn quotes before the model writes the rest of the request. Left to
itself, SmolLM2-135M's user asked about something else in 26 of 31 sample dialogues (`off_topic`)."""
ARTICLE_PREFILL = "# "
"""Moral Education replies start with the article's title heading."""
_LINE = r"[^\n]+"
REFUSAL_OPENERS = ("I can't help with", "I can't help you with", "I'm sorry, but I can't", "I won't help with",
                   "I can't share", "I can't provide", "I'm not able to help with")
"""How an assistant turn may start: each is a refusal phrase of curation/data/refusal_phrases.txt."""
_REFUSAL = "(" + "|".join(REFUSAL_OPENERS) + ")"  # letters, spaces, commas, apostrophes: nothing to escape
DIALOGUE_REGEX = rf"{_LINE}\nAssistant: {_REFUSAL}{_LINE}(\nUser: {_LINE}\nAssistant: {_REFUSAL}{_LINE}){{0,2}}"
"""What may follow the prefill (a structured-output constraint): the rest of the first user turn, then one to three
exchanges in all, one turn per line, every
assistant turn opening with a refusal. Unconstrained, SmolLM2-135M never wrote an Assistant turn (8 of 8 replies);
with turns but free openings, four in five of its assistant turns chatted along instead of declining."""
_BLOCK = r"[^\n#][^\n]*(\n[^\n#][^\n]*)*"
ARTICLE_REGEX = rf"[A-Z][A-Za-z',:-]*( [A-Za-z',:-]+){{1,11}}(\n\n## [^\n#]+\n\n{_BLOCK}(\n\n{_BLOCK}){{0,2}}){{2,4}}"
"""What may follow `# `: a title of 2-12 words of letters, then two to four `## ` sections of one to three
paragraphs. Unconstrained, SmolLM2-135M wrote no `## ` section (8 of 8 replies); with any title, 7 of 25 articles
on public unsafe rows were titled with a date or a link (`bad_title`, generation_public_80.json with the 21-source
head). The rule does not raise the yield: those drafts then fail as off topic."""
MIN_DOCUMENT_TOKENS = 64
_TURN = re.compile(r"\**\b(user|assistant)\b\**\s*:\**", re.IGNORECASE)
_LABEL = re.compile(r"^(User|Assistant):", re.MULTILINE)
_ECHOED_MARKER = re.compile(r"<{2,}\s*DOCUMENT\s+(?:START|END)\s*>*")
_LAST_SENTENCE = re.compile(r".*[.!?][\"'\u201d\u2019)\]*_]*(?=\s|$)", re.DOTALL)


class Job(NamedTuple):
    """Texts of one kind to write in one engine call: `candidates` per source (one count for all, or one per
    source), for the `attempt`-th try."""

    kind: str
    ids: list[str]
    sources: list[str]
    attempt: int = 0
    candidates: int | list[int] = 1

    def samples(self) -> list[int]:
        """How many texts to sample for each source."""
        return list(self.candidates) if isinstance(self.candidates, list) else [self.candidates] * len(self.ids)


PROMPT = {"refuseweb": REFUSEWEB, "moral_education": MORAL_EDUCATION}
"""The prompt of each kind with one prompt (SafeWeb draws a framing per document)."""
SHAPES = {"safeweb": ("", None), "refuseweb": (DIALOGUE_PREFILL, DIALOGUE_REGEX),
          "moral_education": (ARTICLE_PREFILL, ARTICLE_REGEX)}
"""(prefill, structured-output regex) of each kind's replies."""


class Reply(NamedTuple):
    """One generated text (None when the reply had no usable form) and the tokens generated for it."""

    text: str | None
    tokens: int
    template: str | None = None


@dataclass(frozen=True)
class Draft:
    """A generated text after the quality gates: `text` passed them, or `reason` says why the last try failed."""

    text: str | None
    tokens: int
    """Tokens generated over every try."""
    attempts: int
    reason: str | None = None
    failed_text: str | None = None
    """The last try's text when none passed (kept for rejects/)."""
    template: str | None = None
    score: int | None = None
    """The safety score of `text` (or of the failed text, when it got as far as being scored)."""
    similarity: float | None = None
    """Encoder cosine similarity of `text` (or the failed text) to its source, when it was measured."""


def pick_template(templates: list[str], seed: int, doc_id: str) -> str:
    """The SafeWeb framing of one document: a seeded draw from `templates` by (seed, id)."""
    return templates[draw(seed, doc_id, "template") % len(templates)]


class Generator:
    """Holds one vLLM engine and writes SafeWeb, RefuseWeb and Moral Education texts, a batch per call."""

    def __init__(self, cfg: Config, seed: int = 0):
        self.cfg, self.seed = cfg.generation, seed
        gates = cfg.generation.gates
        self.max_score = gates.max_score
        """The highest safety score a SafeWeb or Moral Education text may have."""
        self.target_score = cfg.routing.keep_max if gates.target_score is None else gates.target_score
        """Above this, a SafeWeb or Moral Education text is tried again (the safest try is kept)."""
        engine = cfg.scoring.llm
        model_dir = chat_model_dir(cfg.generation.model, engine.model)
        self.llm = build_llm(engine, model_dir, seed)
        self.tokenizer = self.llm.get_tokenizer()
        self.control = control_token_pattern(self.tokenizer)
        self.budget = engine.max_model_len - self.cfg.max_tokens
        prompts = [*SAFEWEB.values(), REFUSEWEB, MORAL_EDUCATION]
        room = self.budget - max(len(self._encode(prompt, "", DIALOGUE_PREFILL)) for prompt in prompts)
        if room < MIN_DOCUMENT_TOKENS:
            raise ValueError(
                f"scoring.llm.max_model_len={engine.max_model_len} leaves {room} tokens for the document after "
                f"the generation prompt and generation.max_tokens={self.cfg.max_tokens}: raise max_model_len"
            )

    def rephrase(self, ids: list[str], texts: list[str], attempt: int = 0) -> list[Reply]:
        """SafeWeb: each document rewritten in its drawn framing (`template`); text None when empty."""
        return [first for first, *_ in self.write("safeweb", ids, texts, attempt)]

    def refuse(self, ids: list[str], texts: list[str], attempt: int = 0) -> list[Reply]:
        """RefuseWeb: a User/Assistant dialogue declining each document's harmful content (text None if none)."""
        return [first for first, *_ in self.write("refuseweb", ids, texts, attempt)]

    def moral(self, ids: list[str], dialogues: list[str], attempt: int = 0) -> list[Reply]:
        """Moral Education: each dialogue as a third-person article with Markdown headings; text None when the
        reply has no `## ` section (the token budget ran out first)."""
        return [first for first, *_ in self.write("moral_education", ids, dialogues, attempt)]

    def write(self, kind: str, ids: list[str], sources: list[str], attempt: int = 0,
              candidates: int = 1) -> list[list[Reply]]:
        """`candidates` texts of `kind` (safeweb, refuseweb, moral_education) per source, sampled from one prompt."""
        return self.write_all([Job(kind, ids, sources, attempt, candidates)])[0]

    def write_all(self, jobs: list[Job]) -> list[list[list[Reply]]]:
        """The texts of every job from one engine call, so that vLLM batches all of them together."""
        for job in jobs:
            if job.kind not in SHAPES:
                raise ValueError(f"unknown generation kind {job.kind!r}")
            if len(job.ids) != len(job.sources):
                raise ValueError(f"{len(job.ids)} ids for {len(job.sources)} texts")
        templates = [self._templates(job) for job in jobs]
        prefills = [[self.prefill(job.kind, source, name) for source, name in zip(job.sources, names, strict=True)]
                    for job, names in zip(jobs, templates, strict=True)]
        requests, sampling = [], []
        for job, names, starts in zip(jobs, templates, prefills, strict=True):
            prompts = [SAFEWEB[name] for name in names] if job.kind == "safeweb" else [PROMPT[job.kind]] * len(job.ids)
            requests += [{"prompt_token_ids": self.prompt_ids(prompt, source, start)}
                         for prompt, source, start in zip(prompts, job.sources, starts, strict=True)]
            sampling += self._sampling(job, SHAPES[job.kind][1],
                                       [self.reply_tokens(job.kind, source) for source in job.sources])
        replies = iter(self._generate(requests, sampling) if requests else [])
        return [[_replies(job.kind, row, name, start) for name, start, row in zip(names, starts, replies, strict=False)]
                for job, names, starts in zip(jobs, templates, prefills, strict=True)]

    def prefill(self, kind: str, source: str, template: str | None = None) -> str:
        """How a reply of `kind` starts: a SafeWeb rewrite's first line in `template`'s framing names its
        document's topic words (curation.generation.topics); a dialogue's first user turn quotes the opening of
        its document; an article starts with its title heading."""
        if kind == "safeweb" and template is not None and self.cfg.topic_openings:
            return topic_opening(template, self.gate_source(source))
        if kind == "refuseweb":
            quote = _TURN.sub(lambda label: label[1], opening(self.gate_source(source), QUOTE_CHARS))  # no turn labels
            return f'{DIALOGUE_PREFILL} "{quote}"'
        return SHAPES[kind][0]

    def _templates(self, job: Job) -> list[str | None]:
        """The SafeWeb framing of each document of a SafeWeb job (None for other kinds)."""
        if job.kind != "safeweb":
            return [None] * len(job.ids)
        return [pick_template(self.cfg.templates, self.seed, doc_id) for doc_id in job.ids]

    def reply_tokens(self, kind: str, source: str) -> int:
        """The token budget of one reply: a rewrite or dialogue gets `reply_ratio` times its document's tokens,
        within [min_reply_tokens, max_tokens], so that a tweet's rewrite stays near the tweet; an article gets
        max_tokens (it needs room for its sections)."""
        if kind == "moral_education":
            return self.cfg.max_tokens
        document = prepare_document(source, self.cfg.max_doc_chars, self.control)
        wanted = round(self.cfg.reply_ratio * len(self.tokenizer.encode(document, add_special_tokens=False)))
        return max(min(self.cfg.min_reply_tokens, self.cfg.max_tokens), min(self.cfg.max_tokens, wanted))

    def _sampling(self, job: Job, regex: str | None, budgets: list[int]) -> list:
        """Sampling settings of each request of `job`: `candidates` samples of up to its budget of tokens from a
        seed drawn from (seed, id, kind, attempt); `regex` constrains the reply's form."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structure = StructuredOutputsParams(regex=regex) if regex else None
        purpose = job.kind if job.attempt == 0 else f"{job.kind}#{job.attempt}"
        return [SamplingParams(n=n, temperature=self.cfg.temperature, top_p=self.cfg.top_p,
                               min_p=self.cfg.min_p, max_tokens=budget, repetition_penalty=self.cfg.repetition_penalty,
                               seed=draw(self.seed, doc_id, purpose), structured_outputs=structure)
                for doc_id, budget, n in zip(job.ids, budgets, job.samples(), strict=True)]

    def gated(self, kind: str, ids: list[str], sources: list[str],
              score: Callable[[list[str]], list[int | None]] | None = None,
              similarity: Callable[[list[str], list[str]], list[float]] | None = None) -> list[Draft]:
        """Texts of `kind` (safeweb, refuseweb, moral_education) that pass the quality gates (see `Gating`)."""
        gating = Gating(self, kind, ids, sources)
        self.settle([gating], score, similarity)
        return gating.drafts

    def settle(self, gatings: list[Gating], score=None, similarity=None,
               follow: Callable[[Gating, list[int]], list[Gating]] | None = None) -> None:
        """Write every gating's rows until each has passed its gates or run out of retries, in waves: each wave
        is one engine call holding every gating's next try. `follow(gating, rows)` is told which rows settled
        in a wave and may return new gatings (Moral Education articles of the dialogues that passed), which
        join the next wave."""
        active = [g for g in gatings if not g.done]
        while active:
            jobs = [g.job() for g in active]
            started = time.perf_counter()
            waves = self.write_all(jobs)
            log.info("generation wave: %s, %d tokens in %.1f s",
                     ", ".join(f"{len(job.ids)} {job.kind} ({sum(job.samples())} samples)" for job in jobs),
                     sum(reply.tokens for rows in waves for row in rows for reply in row),
                     time.perf_counter() - started)
            joined = []
            for gating, written in zip(active, waves, strict=True):
                settled = gating.judge(written, score, similarity)
                if follow is not None:
                    joined += follow(gating, settled)
            active = [g for g in active + joined if not g.done]

    def gate_source(self, text: str) -> str:
        """A document as the generator saw it (cut to max_doc_chars): what a rewrite is measured against."""
        return prepare_document(text, self.cfg.max_doc_chars, self.control)

    def close(self) -> None:
        """Stop the engine's processes now rather than at interpreter exit."""
        shutdown(self.llm)

    def prompt_ids(self, prompt: Template, text: str, prefill: str = "") -> list[int]:
        """Token ids for one document: chat template, instructions, cut and neutralised document, prefill."""
        document = prepare_document(text, self.cfg.max_doc_chars, self.control)
        return fit_prompt(self.tokenizer, document, lambda doc: self._encode(prompt, doc, prefill), self.budget)

    def _encode(self, prompt: Template, document: str, prefill: str) -> list[int]:
        return chat_prompt_ids(self.tokenizer, prompt.substitute(document=document), prefill)

    def _generate(self, requests: list[dict], sampling: list) -> list[list[tuple[str, int]]]:
        """One engine call: each request's replies, cleaned, with their generated token counts; a reply cut by
        max_tokens loses its unfinished last sentence."""
        replies = []
        for output in self.llm.generate(requests, sampling, use_tqdm=False):
            row = []
            for completion in sorted(output.outputs, key=lambda c: c.index):
                cut = completion.finish_reason == "length"
                text = clean_generation(drop_unfinished(completion.text) if cut else completion.text, self.control)
                row.append((text, len(completion.token_ids)))
            replies.append(row)
        return replies


def opening(text: str, limit: int) -> str:
    """The start of `text` on one line: its first sentences within `limit` characters, or its first words and
    "..." when the first sentence is longer."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[:end + 1] if end >= limit // 3 else cut.rsplit(" ", 1)[0] + " ..."


def _replies(kind: str, row: list[tuple[str, int]], template: str | None, prefill: str) -> list[Reply]:
    """One source's (text, tokens) replies, written after `prefill`, as Replies of `kind`: a dialogue normalised,
    an article without a `## ` section None, an empty reply None (a rewrite is its opening and the reply)."""
    if kind == "refuseweb":
        return [Reply(normalise_dialogue(prefill + " " + text), tokens) for text, tokens in row]
    if kind == "moral_education":
        return [Reply(prefill + text if "\n## " in text else None, tokens) for text, tokens in row]
    return [Reply((prefill + " " + text).strip() if text else None, tokens, template) for text, tokens in row]


class Gating:
    """One kind's rows on their way through the quality gates, a try per wave (`Generator.settle`).

    A row whose text fails a gate is generated again with a new seed, up to `gates.retries` times; a row that
    never passes keeps text None and the reason of its last try. `similarity` relates each text to its source
    (encoder cosine); below `gates.min_similarity` a text is `off_topic`. `score` rates texts 0-5 with the
    safety scorer; every text that passes the other gates is scored. A SafeWeb or Moral Education text above
    `target_score` is tried again too, and the row keeps its lowest-scoring try; if even that scores above
    `max_score`, the row fails as `still_unsafe`.
    """

    def __init__(self, generator: Generator, kind: str, ids: list[str], sources: list[str]):
        gates = generator.cfg.gates
        self.kind, self.ids, self.sources, self.gates = kind, ids, sources, gates
        self.max_score, self.target_score = generator.max_score, generator.target_score
        self.candidates = 1 if kind == "refuseweb" else gates.candidates
        self.generator = generator
        # what each text is measured against: the document as the generator saw it (an article: its dialogue)
        self.made_from = sources if kind == "moral_education" else [generator.gate_source(s) for s in sources]
        self.drafts: list[Draft | None] = [None] * len(ids)
        self.tokens = [0] * len(ids)
        self.todo = list(range(len(ids)))
        self.attempt = 0

    @property
    def done(self) -> bool:
        return not self.todo or self.attempt > self.gates.retries

    def job(self) -> Job:
        """The next try of every row still to settle."""
        samples = [self.retry_candidates(self.sources[i]) if self.failed(i) else self.candidates for i in self.todo]
        return Job(self.kind, [self.ids[i] for i in self.todo], [self.sources[i] for i in self.todo],
                   self.attempt, samples)

    def failed(self, i: int) -> bool:
        """Whether row `i` has been tried and no try passed its gates (not one tried again only for
        `target_score`)."""
        return self.drafts[i] is not None and self.drafts[i].text is None

    def retry_candidates(self, source: str) -> int:
        """Texts a retry of a row that failed its gates samples: as many as fit in `retry_tokens` reply tokens
        (at least `candidates`), so a short text's rewrite gets more tries at passing than a long one's."""
        if self.kind == "refuseweb":
            return 1
        return max(self.candidates, self.gates.retry_tokens // self.generator.reply_tokens(self.kind, source))

    def judge(self, written: list[list[Reply]], score=None, similarity=None) -> list[int]:
        """Take one wave's tries of `job()`; the rows that settled (passed, or failed their last try)."""
        tries = [(i, reply) for i, replies in zip(self.todo, written, strict=True) for reply in replies]
        for i, reply in tries:
            self.tokens[i] += reply.tokens
        reasons, similar, scores = self._judge_tries(tries, score, similarity)
        chosen: dict[int, int] = {}  # row -> its try this round: the safest that passed, else the first
        for t, (i, _) in enumerate(tries):
            if i not in chosen or (reasons[t] is None and (reasons[chosen[i]] is not None
                                                            or scores[t] < scores[chosen[i]])):
                chosen[i] = t
        retry = []
        for i, t in chosen.items():
            reply, reason, failed = tries[t][1], reasons[t], reasons[t] is not None
            draft = Draft(None if failed else reply.text, self.tokens[i], self.attempt + 1, reason,
                          reply.text if failed else None, reply.template, scores[t], similar[t])
            best = self.drafts[i]
            if best is not None and best.text is not None and (failed or draft.score >= best.score):
                draft = replace(best, tokens=self.tokens[i], attempts=self.attempt + 1)  # an earlier try was safer
            self.drafts[i] = draft
            if draft.text is None or score_problem(self.kind, draft.score, self.target_score):
                retry.append(i)
        self.attempt += 1
        settled = self.todo if self.attempt > self.gates.retries else [i for i in self.todo if i not in retry]
        self.todo = retry
        return settled

    def _judge_tries(self, tries: list[tuple[int, Reply]], score, similarity):
        """(gate reason, similarity to the source, safety score) of each try: the text gates first, then the
        topic gate on the tries that passed them, then the safety score of those still passing."""
        reasons = [check(self.kind, self.made_from[i], reply.text, self.gates) for i, reply in tries]
        similar: list[float | None] = [None] * len(tries)
        scores: list[int | None] = [None] * len(tries)
        passed = [t for t, reason in enumerate(reasons) if reason is None]
        if similarity and passed:
            values = similarity([self.made_from[tries[t][0]] for t in passed],
                                [topic_text(self.kind, tries[t][1].text) for t in passed])
            for t, value in zip(passed, values, strict=True):
                similar[t] = round(float(value), 4)
                reasons[t] = topic_problem(value, self.gates)
            passed = [t for t in passed if reasons[t] is None]
        if score and passed:
            for t, value in zip(passed, score([tries[t][1].text for t in passed]), strict=True):
                scores[t] = value
                reasons[t] = score_problem(self.kind, value, self.max_score)
        return reasons, similar, scores


def clean_generation(text: str, control_pattern: re.Pattern) -> str:
    """Generated text without control tokens, echoed document markers or outer whitespace.

    Removing one control token may join the pieces of another, so removal repeats until none is left.
    """
    found = True
    while found:
        text, found = control_pattern.subn("", text)
    return _ECHOED_MARKER.sub("", text).strip()


def drop_unfinished(text: str) -> str:
    """Text up to its last sentence end (a reply cut by the token budget stops mid-sentence); all if none."""
    match = _LAST_SENTENCE.match(text)
    return match[0] if match else text


def normalise_dialogue(text: str) -> str | None:
    """One turn per line, each starting "User:" or "Assistant:"; None without a user and an assistant turn.

    Text before the first label is dropped, whitespace inside a turn collapsed, consecutive turns of one
    speaker merged, empty turns and a trailing unanswered user turn dropped.
    """
    parts = _TURN.split(text)
    turns: list[list[str]] = []
    for label, content in zip(parts[1::2], parts[2::2], strict=True):
        speaker, words = label.capitalize(), " ".join(content.replace("**", " ").split())
        if not words:
            continue
        if turns and turns[-1][0] == speaker:
            turns[-1][1] += " " + words
        else:
            turns.append([speaker, words])
    if turns and turns[-1][0] == "User":
        turns.pop()
    if {speaker for speaker, _ in turns} != {"User", "Assistant"}:
        return None
    return "\n".join(f"{speaker}: {words}" for speaker, words in turns)


def substitute_speakers(dialogue: str, key: str, seed: int, mode: str = "mixed") -> str:
    """Replace the "User:"/"Assistant:" line labels with two different names or roles drawn by (seed, key)."""
    pools = {"names": SPEAKERS["names"], "roles": SPEAKERS["roles"], "mixed": SPEAKERS["names"] + SPEAKERS["roles"]}
    if mode not in pools:
        raise ValueError(f"speaker mode {mode!r}: choose from {', '.join(pools)}")
    user, assistant = random.Random(draw(seed, key, "speakers")).sample(pools[mode], 2)
    labels = {"User": user, "Assistant": assistant}
    return _LABEL.sub(lambda match: labels[match[1]] + ":", dialogue)
