"""Training config: model, tokenizer, mixture of curated sources, harmfulness tags, LitGPT training arguments.

One pydantic tree like curation's, loaded from YAML (`training/configs/*.yaml`) plus `--set key=value`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from curation.config import Section

SOURCES = ("raw", "raw_tagged", "score0", "unsafe_tagged", "safeweb", "refuseweb", "moral_education",
           "reflections")
"""What a mixture can take from a curation output folder:
  raw              every scored document as it was written (scored/)
  raw_tagged       every scored document, those scored unsafe with harmfulness tags (Algorithm 2)
  score0           scored documents with safety_score 0
  unsafe_tagged    only the documents scored unsafe, with harmfulness tags
  safeweb          rephrased documents (safeweb/)
  refuseweb        refusal dialogues, speakers already substituted (refuseweb/)
  moral_education  articles written from the dialogues (moral_education/)
  reflections      scored documents with safety reflections inserted (reflections/)"""
Source = Literal["raw", "raw_tagged", "score0", "unsafe_tagged", "safeweb", "refuseweb", "moral_education",
                 "reflections"]


class ModelConfig(Section):
    name: str | None = None
    """A LitGPT model name (e.g. `SmolLM2-1.7B`) whose architecture is used; empty = `fields` alone."""
    fields: dict[str, Any] = {}
    """`litgpt.Config` fields set on top of `name` (n_layer, n_embd, block_size, ...). The vocabulary size always
    comes from the tokenizer, special tokens included."""


class TagConfig(Section):
    threshold: int = Field(2, ge=0, le=5)
    """A document whose safety_score is at least this counts as unsafe and gets tags (raw_tagged, unsafe_tagged)."""
    p: float = Field(0.05, ge=0.0, le=1.0)
    """Probability of a tag before each word after the first (the paper's ablation: 3, 5, 10%; 5% best)."""


class DataConfig(Section):
    val_fraction: float = Field(0.02, ge=0.0, lt=1.0)
    """Share of documents (drawn by id) held out for validation loss."""
    shuffle_buffer: int = Field(10_000, ge=1)
    """Documents in the streaming shuffle buffer of the training loader."""
    num_workers: int = Field(0, ge=0)
    """DataLoader worker processes per rank (each reads its own share of the documents)."""


class TrainArgs(Section):
    max_tokens: int = Field(100_000, gt=0)
    """Training budget in tokens, over all ranks."""
    max_seq_length: int = Field(128, gt=0)
    """Tokens per training block."""
    micro_batch_size: int = Field(8, gt=0)
    """Blocks per forward pass on one device."""
    global_batch_size: int = Field(8, gt=0)
    """Blocks per optimizer step over all devices (gradient accumulation fills the difference)."""
    learning_rate: float = Field(5e-4, gt=0.0)
    """Peak AdamW learning rate (the paper: 5e-4)."""
    min_lr: float = Field(5e-5, ge=0.0)
    """Learning rate at the end of the cosine decay."""
    weight_decay: float = Field(0.01, ge=0.0)
    """AdamW weight decay (the paper: 0.01)."""
    warmup_steps: int = Field(10, ge=0)
    """Linear warmup, in optimizer steps."""
    max_norm: float = Field(1.0, gt=0.0)
    """Gradient clipping norm."""
    precision: Literal["bf16-true", "bf16-mixed", "32-true", "16-mixed"] = "32-true"
    """Lightning precision; `bf16-mixed` on GPUs (the paper), `32-true` on CPU."""
    tie_embeddings: bool = True
    """Share the input embedding and output head, as SmolLM2 does."""
    devices: int | Literal["auto"] = 1
    """Devices per node (data-parallel ranks)."""
    num_nodes: int = Field(1, gt=0)
    """Nodes in the run."""
    log_interval: int = Field(1, gt=0)
    """Optimizer steps between loss lines."""
    eval_interval: int = Field(10, gt=0)
    """Optimizer steps between validation-loss runs."""
    eval_iters: int = Field(4, gt=0)
    """Validation batches per validation run."""
    save_interval: int | None = Field(None, gt=0)
    """Optimizer steps between intermediate checkpoints; empty = only the final one."""


class TrainConfig(Section):
    model: ModelConfig = ModelConfig()
    """Architecture."""
    tokenizer: str | None = None
    """Local tokenizer folder to add the special tokens to; empty = SmolLM2's, from the packaged GGUF."""
    mixture: dict[Source, float] = {"raw": 1.0}
    """Sources and weights: a weight is how many times each document of the source is taken (1 = once,
    0.5 = a seeded half, 2 = twice). Sources: raw, raw_tagged, score0, unsafe_tagged, safeweb, refuseweb,
    moral_education, reflections (see SOURCES)."""
    tags: TagConfig = TagConfig()
    """Harmfulness tags on unsafe text (Algorithm 2)."""
    data: DataConfig = DataConfig()
    """Loading of the curated shards."""
    train: TrainArgs = TrainArgs()
    """LitGPT training arguments."""
    seed: int = 0
    """Seed of tags, sampling, shuffling and weight initialisation."""
