"""LitGPT data module: tokenized blocks streamed from the curated Parquet shards of a mixture.

Checkpoints pickle the data module, so it lives here, importable, and holds only paths and plain config.
Each rank (and each loader worker inside it) takes every n-th document of the mixture stream, so ranks
read disjoint documents without coordination. Training documents pass through a seeded shuffle buffer
(reseeded every epoch); each document is followed by the separator token, and the token stream is cut
into blocks of max_seq_length + 1 (inputs and shifted targets).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from litgpt.data import DataModule
from litgpt.tokenizer import Tokenizer
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from training.config import TrainConfig
from training.mixture import Document, is_validation, mixture_documents
from training.tokenizer import DOCUMENT_SEPARATOR, load


def rank_and_world() -> tuple[int, int]:
    """This process's data-parallel rank and the number of ranks (0, 1 outside a distributed run)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class MixtureBlocks(IterableDataset):
    """Blocks of `block_size` token ids from one split (train or validation) of the mixture."""

    def __init__(self, data_dir: Path, cfg: dict, tokenizer_dir: Path, block_size: int, split: str):
        self.data_dir, self.cfg_json, self.tokenizer_dir = Path(data_dir), cfg, Path(tokenizer_dir)
        self.block_size, self.split = block_size, split
        self.epoch = 0

    def documents(self) -> Iterator[Document]:
        """This reader's share of the split, shuffled (training) within a seeded buffer."""
        cfg = TrainConfig.model_validate(self.cfg_json)
        rank, world = rank_and_world()
        worker = get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        readers, reader = world * workers, rank * workers + worker_id
        mine = (doc for i, doc in enumerate(d for d in mixture_documents(self.data_dir, cfg)
                                            if is_validation(d.key, cfg) == (self.split == "validation"))
                if i % readers == reader)
        if self.split == "validation":
            yield from mine
            return
        rng = random.Random(f"shuffle\0{cfg.seed}\0{self.epoch}\0{reader}")
        buffer: list[Document] = []
        for doc in mine:
            buffer.append(doc)
            if len(buffer) >= cfg.data.shuffle_buffer:
                yield buffer.pop(rng.randrange(len(buffer)))
        rng.shuffle(buffer)
        yield from buffer

    def __iter__(self) -> Iterator[torch.Tensor]:
        tokenizer = load(self.tokenizer_dir)
        separator = tokenizer.token_to_id(DOCUMENT_SEPARATOR)
        stream: list[int] = []
        for doc in self.documents():
            stream.extend(tokenizer.encode(doc.text, add_special_tokens=False).ids)
            stream.append(separator)
            while len(stream) >= self.block_size:
                yield torch.tensor(stream[: self.block_size], dtype=torch.int64)
                del stream[: self.block_size]
        self.epoch += 1


@dataclass
class CuratedMixture(DataModule):
    """The mixture of a TrainConfig read from a curation output folder (`safecurate curate --out`)."""

    data_dir: Path
    config: dict
    """TrainConfig as JSON-ready data (checkpoints pickle this module)."""
    tokenizer_dir: Path
    batch_size: int = field(default=1, init=False, repr=False)
    block_size: int = field(default=2049, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__init__()

    def connect(self, tokenizer: Tokenizer | None = None, batch_size: int = 1, max_seq_length: int | None = None,
                **kwargs) -> None:
        self.batch_size = batch_size
        self.block_size = (max_seq_length or 2048) + 1  # inputs and targets shifted by one

    def _loader(self, split: str) -> DataLoader:
        workers = TrainConfig.model_validate(self.config).data.num_workers
        blocks = MixtureBlocks(self.data_dir, self.config, self.tokenizer_dir, self.block_size, split)
        return DataLoader(blocks, batch_size=self.batch_size, num_workers=workers, drop_last=True)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation")
