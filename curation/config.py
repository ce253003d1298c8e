"""The one configuration tree of a curation run: pydantic models, YAML loading, --set overrides, hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from curation.schema import GENERATION_KINDS, MORAL_EDUCATION


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class InputConfig(Section):
    text_column: str = "text"
    """Column holding the document text."""
    id_column: str = "id"
    """Column holding the document id; when absent, ids are derived from shard name and row index."""
    max_chars: int = Field(200_000, gt=0)
    """Documents longer than this (in characters) go to rejects/ with reason `too_long`."""
    preview_chars: int = Field(300, ge=0)
    """How much of a rejected row's text is kept in rejects/ as a preview."""


class EmbedConfig(Section):
    model: str | None = None
    """Local sentence-transformers model directory; empty = the packaged all-MiniLM-L6-v2; `all-mpnet-base-v2` = the
    larger packaged encoder (the `mpnet` extra; 4-7 times the cost per text, for GPU profiles) with its head
    `curation/heads/mpnet` (`make head-mpnet` builds it)."""
    head: str | None = None
    """Directory of a classifier head (head.safetensors + head.json); empty = the packaged default head."""
    max_seq_length: int = Field(256, gt=8)
    """Encoder input length in tokens; longer documents are split into chunks of this size."""
    cumulative_threshold: float | None = Field(None, gt=0.0, le=1.0)
    """One threshold for every level: a score is the highest k with P(score >= k) >= this; lower favours recall.
    Empty = the per-level thresholds and confident levels the head was calibrated with (its head.json), else 0.5."""
    max_chunks: int = Field(64, gt=0)
    """At most this many chunks are scored per document (a document's score is the max over its pieces)."""
    window_tokens: int = Field(64, ge=0)
    """Each paragraph's sentences, packed into windows of at most this many tokens (a longer sentence is cut), are
    also scored, and a short paragraph near either end without its edge sentences, so surrounding text cannot
    dilute a harmful passage; 0 = chunks only."""
    edge_paragraphs: int = Field(2, ge=0)
    """A short paragraph among the first (last) this many is also scored without its first (last) 1-3 sentences:
    a harmful paragraph keeps those pieces when up to this many - 1 paragraphs are put before (after) it. Each one
    more costs encoder time on every document (benchmarks/results/scoring_cost.json)."""
    lexical: bool = True
    """Blend in the head folder's lexical n-gram model (lexical.safetensors) when it has one."""
    device: str = "auto"
    """Torch device of the encoder (and of the reflector and the judge, which share it): auto = cuda when this
    process sees a GPU (an actor that reserves GPUs), else cpu; or cpu, cuda, cuda:1, ..."""


class LLMConfig(Section):
    enabled: bool = False
    """Run the LLM rubric scorer; when off, the embedding classifier alone gives the score. Off by default: the
    packaged SmolLM2-135M rates real text at chance on CPU (benchmarks/results/llm_signal.json), so its vote would
    only add noise; cluster/gpu.yaml turns it on with a capable model and `vote: max`."""
    model: str | None = None
    """Local Hugging Face model directory; empty = the packaged SmolLM2-135M-Instruct (converted once)."""
    max_doc_chars: int = Field(3000, gt=0)
    """The document is cut to this many characters inside the rubric prompt."""
    max_tokens: int = Field(48, gt=0)
    """Token budget of one reply."""
    retries: int = Field(1, ge=0)
    """Extra attempts for a reply that does not parse; after them llm_score stays null."""
    vote: Literal["max", "confident"] = "confident"
    """`max`: safety_score = max(llm, embed) as in the paper. `confident`: the LLM's score counts
    only when the model's probability of its own score is at least `min_confidence`."""
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    """Probability threshold for `vote: confident`."""
    dtype: str = "auto"
    """Model dtype for vLLM; auto = bfloat16 on a GPU and on CPUs with bfloat16 matrix instructions (AVX512-BF16
    or AMX: 890 against 410 tokens/s in float32 on 2 cores, 64 prompts), float32 on other CPUs."""
    max_model_len: int = Field(2048, gt=0)
    """Context length vLLM reserves for one sequence."""
    tensor_parallel_size: int = Field(1, ge=1)
    """GPUs per vLLM engine."""
    kv_cache_gib: float = Field(1.0, gt=0)
    """KV cache size for vLLM on CPU (VLLM_CPU_KVCACHE_SPACE)."""
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    """Share of GPU memory vLLM may use on GPU machines."""
    enforce_eager: bool | None = None
    """Run vLLM without torch.compile and CUDA graphs. Empty = eager on CPU (vllm-cpu recompiles at every
    start: eager starts ~100 s sooner and decodes ~15% slower), compiled on GPU."""


class ScoringConfig(Section):
    embed: EmbedConfig = EmbedConfig()
    """The embedding classifier (encoder + linear head)."""
    llm: LLMConfig = LLMConfig()
    """The LLM rubric scorer."""


SAFEWEB_TEMPLATES = ("podcast", "textbook", "teacher", "ted_talk", "parent_child", "friends", "kids_video")


class GateConfig(Section):
    min_chars: int = Field(80, ge=1)
    """A generated text shorter than this many characters fails (`too_short`)."""
    min_ratio: float = Field(0.05, ge=0.0)
    """A generated text shorter than this fraction of its source (as cut for the prompt) fails (`too_short`)."""
    max_ratio: float = Field(4.0, gt=0.0)
    """A generated text longer than this multiple of its source (as cut for the prompt) fails (`too_long`)."""
    length_floor_chars: int = Field(300, ge=0)
    """A source shorter than this counts as this long for `max_ratio`: a tweet may become a whole lesson."""
    max_score: int = Field(1, ge=0, le=5)
    """A SafeWeb or Moral Education text whose own safety score is above this fails (`still_unsafe`); 1 lets
    a text mention a stressful topic the way a textbook does. 5 = no limit. RefuseWeb dialogues quote the
    harmful request, so they are scored but never gated on it."""
    target_score: int | None = Field(None, ge=0, le=5)
    """A SafeWeb or Moral Education text scoring above this is tried again (within `retries`) and the row
    keeps its lowest-scoring try. Empty = routing.keep_max: aim for text the scorer would keep as it is."""
    max_copy: float = Field(0.5, ge=0.0, le=1.0)
    """A text whose word 8-grams are more than this fraction copied from its source fails (`copy_of_source`)."""
    min_similarity: float = Field(0.4, ge=-1.0, le=1.0)
    """A text whose encoder cosine similarity to its source is below this fails (`off_topic`): a SafeWeb text
    against its document, a RefuseWeb dialogue's user turns against the document, a Moral Education article
    against its dialogue. 0.4 keeps 96% of human meaning-preserving rewrites (ParaDetox pairs) and 0.4% of
    random pairs (benchmarks/results/faithfulness.json); -1 turns the gate off."""
    retries: int = Field(1, ge=0)
    """Retries of a failed row with a new seed before it goes to rejects/ with its reason."""
    candidates: int = Field(2, ge=1)
    """SafeWeb and Moral Education texts sampled per try from one prompt (vLLM's `n`: the prompt is read
    once); the lowest-scoring one that passes the gates counts as the try. RefuseWeb samples one."""
    retry_tokens: int = Field(768, ge=1)
    """A retry of a SafeWeb or Moral Education text that failed its gates samples as many candidates as fit in
    this many reply tokens (at least `candidates`): a one-line comment's rewrite (96-token budget) gets 8
    tries at staying on topic, a long document's (256) 3. A row retried only for `target_score` samples
    `candidates`."""


class GenerationConfig(Section):
    enabled: bool = True
    """Run the generation stages on routed rows: SafeWeb, RefuseWeb and (with `moral_education`) Moral
    Education."""
    moral_education: bool = False
    """Write a Moral Education article from each RefuseWeb dialogue that passed its gates. Off on the CPU
    default: the packaged SmolLM2-135M wrote 0 of 30 articles on the sample for 38,400 of its 154,530 generated
    tokens, and 1 of 35 on public unsafe rows (29 off its dialogue's topic, 5 still unsafe; `git log
    benchmarks/results/laptop.json`); on in cluster/gpu.yaml, with a capable model."""
    model: str | None = None
    """Local Hugging Face chat model folder; empty = scoring.llm.model, else the packaged SmolLM2.
    Engine settings (dtype, context, KV cache, parallelism) come from scoring.llm."""
    templates: list[str] = list(SAFEWEB_TEMPLATES)
    """SafeWeb framings to draw from, one per document by a seeded draw."""
    topic_openings: bool = True
    """A SafeWeb rewrite's first line names its document's topic words in its framing's form ("Teacher: Good
    morning, class. Today we are going to talk about something I read about ..."), profanity left out: with
    SmolLM2-135M, 36 of 54 SafeWeb-routed public unsafe rows were written instead of 18 of 54 (with the 21-source
    head: `git log benchmarks/results/generation_public_80.json`). A larger chat model may not need it."""
    max_doc_chars: int = Field(3000, gt=0)
    """The source document is cut to this many characters inside a generation prompt."""
    max_tokens: int = Field(256, gt=0)
    """Token budget of one generated text."""
    reply_ratio: float = Field(2.0, gt=0.0)
    """A SafeWeb rewrite or RefuseWeb dialogue may run to this many times its document's tokens (within
    [min_reply_tokens, max_tokens]): the rewrite of a one-line comment stays short and on its topic instead of
    drifting for max_tokens. Moral Education articles always get max_tokens."""
    min_reply_tokens: int = Field(96, gt=0)
    """The smallest token budget of a SafeWeb rewrite or RefuseWeb dialogue."""
    temperature: float = Field(0.7, ge=0.0)
    """Sampling temperature of the generators."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass of the generators; 1 = off. vLLM's CPU sampler sorts the whole vocabulary for
    top-p at every step: 348 against 565 tokens/s on 2 cores (72 requests), so the tail is cut with min_p."""
    min_p: float = Field(0.05, ge=0.0, lt=1.0)
    """Tokens less likely than this fraction of the most likely token are never sampled (no sort needed)."""
    speakers: Literal["names", "roles", "mixed"] = "mixed"
    """What replaces "User"/"Assistant" in RefuseWeb dialogues: personal names, roles, or either."""
    repetition_penalty: float = Field(1.1, ge=1.0)
    """vLLM repetition penalty: small models loop ("The food was too bad." x50) without one. vLLM counts
    prompt tokens too, so 1.1 is mild enough that a rewrite still reuses the document's words."""
    gates: GateConfig = GateConfig()
    """Quality gates every generated text must pass; failures are retried, then rejected with a reason."""

    @field_validator("templates")
    @classmethod
    def _known_templates(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SAFEWEB_TEMPLATES))
        if unknown or not value:
            raise ValueError(f"unknown or no templates {unknown}; choose from {', '.join(SAFEWEB_TEMPLATES)}")
        return value

    @property
    def kinds(self) -> tuple[str, ...]:
        """The generated kinds this config writes, in output order: none when generation is off, Moral Education
        only when `moral_education` is on. Every layer that asks whether a kind runs asks here."""
        if not self.enabled:
            return ()
        return tuple(kind for kind in GENERATION_KINDS if kind != MORAL_EDUCATION or self.moral_education)


class ReportConfig(Section):
    ngrams: bool = True
    """Count the harmful n-gram queries of 14 categories per slice with infini-gram (the card's rates)."""
    ngram_lists: str | None = None
    """A JSON file of n-gram lists in the format of curation/data/harmful_ngrams.json; empty = the packaged one."""
    examples: int = Field(2, ge=0)
    """Example rows per score bucket shown on the HTML card."""
    example_chars: int = Field(300, ge=20)
    """Characters of each example shown."""


class ReflectionConfig(Section):
    enabled: bool = True
    """Write reflections/: every scored document with a safety reflection after each segment."""
    segment_tokens: int = Field(256, gt=8)
    """Target segment length in encoder tokens; segments end at sentence boundaries."""
    unsafe_threshold: int = Field(2, ge=1, le=5)
    """A segment whose safety score is at least this is labelled Unsafe (with its harm category)."""


class RoutingConfig(Section):
    keep_max: int = Field(0, ge=0, le=5)
    """Documents with safety_score <= keep_max are kept as they are (route `keep`)."""
    rephrase_max: int = Field(3, ge=0, le=5)
    """Documents above keep_max and <= rephrase_max are rephrased (route `rephrase`); above: `refuse`."""

    @field_validator("rephrase_max")
    @classmethod
    def _ordered(cls, value: int, info: Any) -> int:
        keep = info.data.get("keep_max", 0)
        if value < keep:
            raise ValueError(f"rephrase_max ({value}) must be >= keep_max ({keep})")
        return value

    def route(self, score: int) -> str:
        if score <= self.keep_max:
            return "keep"
        return "rephrase" if score <= self.rephrase_max else "refuse"


class StageResources(Section):
    actors: int | tuple[int, int] = 1
    """Actors in the stage's pool: a fixed number, or [min, max] to autoscale."""
    num_cpus: float = Field(1.0, ge=0)
    """CPUs reserved per actor (fractions allowed)."""
    num_gpus: float = Field(0.0, ge=0)
    """GPUs reserved per actor (fractions allowed, e.g. 0.25 for an encoder)."""
    batch_size: int = Field(64, gt=0)
    """Rows per batch handed to one actor call."""
    threads: int | None = Field(None, ge=0)
    """Torch threads per actor; empty = the actor's CPU reservation, rounded up; 0 = every core of the machine
    on a local Ray (the reservation, rounded up, on a cluster)."""


class ResourcesConfig(Section):
    embed: StageResources = StageResources()
    """Embedding-classifier actor pool."""
    llm: StageResources = StageResources(batch_size=32)
    """LLM-scorer actor pool."""
    generate: StageResources = StageResources(batch_size=64, threads=0)
    """Generator actor pool (SafeWeb, RefuseWeb, Moral Education). A batch's texts of every kind go to the
    engine together, so larger batches keep it busier (vLLM on 2 CPU cores: 161 tokens/s for 8 prompts, 411 for
    64); on a laptop the engine is the run's bottleneck and gets every core."""
    read_rows_per_task: int = Field(2048, gt=0)
    """Rows per read/validate task (row groups are split to this size)."""
    read_num_cpus: float = Field(0.5, gt=0)
    """CPUs reserved per read/validate task and per shard-commit task."""


class RayConfig(Section):
    address: str | None = None
    """Ray cluster address; empty = start a local Ray in-process."""
    num_cpus: int | None = None
    """Logical CPUs of the local Ray; empty = physical cores + 2 so that actor pools never starve reads."""
    object_store_gib: float = Field(1.0, gt=0)
    """Object store size of the local Ray."""
    no_progress_timeout_s: float = 14_400
    """Ray Data fails a run in which no batch moves for this long (a hung stage); -1 = never. One generate
    batch of a small model on 2 CPU cores can take half an hour, past Ray Data's default of 1800 s."""


class FailureConfig(Section):
    """The failure policy every stage applies. A per-row problem (bad text, a reply that does not parse) makes
    that row a reject or a null, counted on the card. A transient problem (a batch that raises, a row group that
    fails to read) is retried. A stage failure (a batch that still fails after its retries, or a stage that
    rejects or nulls more than `max_stage_share` of a shard's rows) fails the shard: it is not committed,
    _failed/S.json names the stage and the error, the other shards go on and the run exits 1."""

    retries: int = Field(2, ge=0)
    """Tries after the first of a model batch or a row-group read that raised."""
    backoff_s: float = Field(0.5, ge=0.0)
    """Wait before the first retry; doubled before each next one."""
    max_stage_share: float = Field(0.01, ge=0.0, le=1.0)
    """A stage that rejects or nulls more than this share of a shard's rows fails the shard. Healthy stages
    measured here lose none: 0 unparseable LLM replies in 1,020 real documents (benchmarks/results/
    llm_signal.json), 0 encoder errors over the scorer's cross-source rows; a broken one loses them all."""


class Config(Section):
    input: InputConfig = InputConfig()
    """How input shards are read and validated."""
    scoring: ScoringConfig = ScoringConfig()
    """Models that score documents 0-5."""
    routing: RoutingConfig = RoutingConfig()
    """Score thresholds that pick each document's route."""
    generation: GenerationConfig = GenerationConfig()
    """Rewriting routed documents: SafeWeb, RefuseWeb, Moral Education."""
    reflections: ReflectionConfig = ReflectionConfig()
    """Safety reflections inserted into scored documents."""
    report: ReportConfig = ReportConfig()
    """What the per-shard report cards hold."""
    resources: ResourcesConfig = ResourcesConfig()
    """Actor pools and batch sizes (not part of the config hash)."""
    ray: RayConfig = RayConfig()
    """Where Ray runs (not part of the config hash)."""
    failures: FailureConfig = FailureConfig()
    """Retries and when a stage's failures fail its shard (not part of the config hash)."""
    seed: int = 0
    """Seed for every random draw of the run."""

    def content_hash(self) -> str:
        """Hash of everything that changes outputs; resources and Ray placement are left out."""
        data = self.model_dump(mode="json", exclude={"resources", "ray", "failures"})
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config file or override that does not validate; the message is one readable line."""


def _parse_value(raw: str) -> Any:
    """`--set` values are YAML scalars or lists: 3, 0.5, true, null, [1, 4], text."""
    try:
        return yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError:
        return raw


def apply_override(data: dict, item: str) -> None:
    """Apply one `dotted.key=value` override to a nested dict in place."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section")
    node[parts[-1]] = _parse_value(raw)


def _one_line(error: ValidationError) -> str:
    problems = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "config"
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load YAML (optional), apply `key=value` overrides, validate; ConfigError on any problem."""
    return load_yaml_model(Config, path, overrides)


def load_yaml_model(model: type[M], path: str | Path | None = None, overrides: list[str] | None = None) -> M:
    """A config tree of type `model` from YAML (optional) and `key=value` overrides; ConfigError on any problem."""
    data: dict = {}
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a mapping at the top level")
    for item in overrides or []:
        apply_override(data, item)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid config: {_one_line(exc)}") from None
