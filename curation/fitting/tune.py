"""Fine-tuning the encoder's top transformer layers together with the 6-way head, from cached lower states.

The layers under the tuned ones never change, so their output for each row is computed once (`TopLayers.states`)
and every training step runs only the top layers: with two of MiniLM's six layers tuned a step costs about a
third of a full pass. Embeddings come out as sentence-transformers makes them (mean over tokens, unit length),
so a head fitted on them is a `LinearHead`. `make head` with `tune_layers` (curation.fitting.fit) packages the
tuned layers beside the head (curation.models.encoder.ENCODER_TOP); `benchmarks.finetune` compares them with the
frozen encoder.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from curation.fitting.heads import FitSettings, each_fold, fit_heads, row_weights
from curation.models.encoder import ENCODER_TOP, LinearHead
from curation.models.layer_delta import read_layers, write_layers
from curation.models.lexical import LexicalHead
from curation.models.packaged import cache_dir

BATCH = 32
"""Rows per training step."""
FOLD_CACHE = cache_dir() / "folds"
"""Where `tuned_folds` keeps each fold's tuned layers and heads (`fold_cache`): `make quality` after `make head` on
the same table reuses them instead of tuning every fold again."""


class TopLayers:
    """The packaged all-MiniLM-L6-v2 with its top `layers` transformer layers trainable."""

    def __init__(self, layers: int, seed: int = 0):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from curation.models.packaged import packaged_encoder_dir

        torch.manual_seed(seed)
        path = packaged_encoder_dir()
        self.torch, self.seed = torch, seed
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        depth = len(self.model.encoder.layer)
        if not 0 <= layers <= depth:
            raise ValueError(f"layers must be 0..{depth}, got {layers}")
        self.below, self.top = depth - layers, self.model.encoder.layer[depth - layers:]
        for parameter in self.model.parameters():
            parameter.requires_grad = False
        for parameter in self.top.parameters():
            parameter.requires_grad = True
        self.initial = self.tensors()  # the packaged layers, which the tuned ones are stored against

    def states(self, texts: list[str], max_tokens: int, batch: int = 64) -> list:
        """Per text, the hidden states (tokens x dim, float16) that enter the top layers, cut at `max_tokens`."""
        torch = self.torch
        out = [None] * len(texts)
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.no_grad():
            for start in range(0, len(texts), batch):
                rows = order[start:start + batch]
                encoded = self.tokenizer([texts[i] for i in rows], truncation=True, max_length=max_tokens,
                                         padding=True, return_tensors="pt")
                hidden = self.model(**encoded, output_hidden_states=True).hidden_states[self.below]
                for j, i in enumerate(rows):
                    out[i] = hidden[j, :int(encoded["attention_mask"][j].sum())].to(torch.float16).clone()
        return out

    def pool(self, states: list):
        """Unit mean-pooled embeddings (a tensor, differentiable through the top layers) of cached `states`."""
        from transformers.masking_utils import create_bidirectional_mask

        torch = self.torch
        longest = max(len(s) for s in states)
        hidden = torch.zeros(len(states), longest, self.model.config.hidden_size)
        mask = torch.zeros(len(states), longest, dtype=torch.long)
        for j, s in enumerate(states):
            hidden[j, :len(s)], mask[j, :len(s)] = s.float(), 1
        attention = create_bidirectional_mask(config=self.model.config, inputs_embeds=hidden, attention_mask=mask)
        for layer in self.top:
            hidden = layer(hidden, attention_mask=attention)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        weights = mask.unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1)

    def embed(self, states: list, batch: int = 128) -> np.ndarray:
        """Unit embeddings (numpy) of cached `states`, length-sorted batches."""
        self.top.eval()
        out = np.zeros((len(states), self.model.config.hidden_size), dtype=np.float32)
        order = np.argsort([len(s) for s in states], kind="stable")
        with self.torch.no_grad():
            for start in range(0, len(states), batch):
                rows = order[start:start + batch]
                out[rows] = self.pool([states[i] for i in rows]).numpy()
        return out

    def tune(self, states: list, scores: np.ndarray, weights: np.ndarray, head: LinearHead, epochs: float,
             rate: float, log=print) -> LinearHead:
        """Train the top layers and the head (starting from `head`) for `epochs` of weighted cross-entropy; AdamW,
        the head at 10x `rate`, both decaying linearly to 0. The head after training."""
        torch = self.torch
        linear = torch.nn.Linear(head.weight.shape[1], head.weight.shape[0])
        linear.weight.data = torch.tensor(head.weight, dtype=torch.float32)
        # a class absent from the rows has bias -1e4, which would overflow Adam's first steps
        linear.bias.data = torch.tensor(np.maximum(head.bias, -30.0), dtype=torch.float32)
        groups = [{"params": list(linear.parameters()), "lr": rate * 10}]
        if len(self.top):
            groups.append({"params": list(self.top.parameters()), "lr": rate})
        optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
        base_rates = [group["lr"] for group in optimizer.param_groups]
        order = np.argsort([len(s) for s in states], kind="stable")  # batches of similar length pad little
        batches = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
        total = max(1, int(epochs * len(batches)))
        rng, step, started = random.Random(self.seed), 0, time.time()
        self.top.train()
        while step < total:
            rng.shuffle(batches)
            for rows in batches[:total - step]:
                logits = linear(self.pool([states[i] for i in rows]))
                loss = (torch.nn.functional.cross_entropy(logits, torch.tensor(scores[rows]), reduction="none")
                        * torch.tensor(weights[rows], dtype=torch.float32)).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                for group, base in zip(optimizer.param_groups, base_rates, strict=True):
                    group["lr"] = base * (1 - step / total)
                if step % 200 == 0:
                    log(f"  step {step}/{total} loss {loss.item():.3f} ({time.time() - started:.0f} s)")
        self.top.eval()
        return LinearHead(weight=linear.weight.detach().numpy(), bias=linear.bias.detach().numpy(), info={})

    def tensors(self) -> dict[str, np.ndarray]:
        """The top layers' parameters as they are now (float32 copies), named as in the encoder's state dict."""
        return {f"encoder.layer.{self.below + i}.{name}": value.detach().numpy().copy()
                for i, layer in enumerate(self.top) for name, value in layer.state_dict().items()}

    def load(self, path) -> None:
        """Set the top layers to the tuned ones `write` wrote to `path`."""
        tuned = read_layers(path, self.initial)  # named as in the model's state dict, each one checked there
        self.model.load_state_dict({k: self.torch.from_numpy(v) for k, v in tuned.items()}, strict=False)

    def write(self, path) -> None:
        """Write the tuned layers for `load_encoder` (curation.models.encoder.ENCODER_TOP): as their difference
        from the packaged ones (curation.models.layer_delta)."""
        write_layers(path, self.tensors(), self.initial)


def tuned_heads(states: list, counted, scores: np.ndarray, sources: np.ndarray, settings: FitSettings,
                log=print) -> tuple[LinearHead, LexicalHead, TopLayers]:
    """The heads of `fit_heads` on the rows (the encoder head on the frozen embeddings of their cached `states`),
    then the top `settings.tune_layers` layers and the encoder head tuned together from there."""
    tuner = TopLayers(settings.tune_layers, settings.seed)
    head, lexical = fit_heads(tuner.embed(states), counted, scores, sources, settings)
    weights = row_weights(scores, sources, settings.unsafe_weight)
    head = tuner.tune(states, scores, weights, head, settings.tune_epochs, settings.tune_rate, log)
    return head, lexical, tuner


def fold_cache(texts: list[str], scores: np.ndarray, sources: np.ndarray, settings: FitSettings) -> Path:
    """The folder under FOLD_CACHE for the fold fits of this table with these settings and this fitting code (this
    module, the heads' fits and the lexical features)."""
    digest = hashlib.sha256(json.dumps(vars(settings), sort_keys=True).encode())
    for code in (TopLayers, fit_heads, LexicalHead):
        digest.update(Path(inspect.getsourcefile(code)).read_bytes())
    for text, score, source in zip(texts, scores, sources, strict=True):
        digest.update(f"{source}\t{score}\t{text}\0".encode())
    return FOLD_CACHE / digest.hexdigest()[:16]


def tuned_folds(states: Callable[[], list], counted, scores: np.ndarray, sources: np.ndarray, settings: FitSettings,
                log=print, only: set[str] | None = None, cache: Path | None = None):
    """Per fold of whole sources (`each_fold`), in order: (its rows as a mask, `tuned_heads` of the other folds).
    `states` gives every row's cached lower states (`TopLayers.states`); it is called only when a fold is tuned.
    With `cache` (a `fold_cache` folder), a fold tuned there before is read back instead of tuned again, and a new
    one is kept there (its layers and heads as a head folder holds them)."""
    states = functools.cache(states)
    for held in each_fold(sources, settings.folds, only):
        names = sorted(set(sources[held]))
        kept = cache / hashlib.sha256("\n".join(names).encode()).hexdigest()[:12] if cache else None
        if kept is not None and (kept / ENCODER_TOP).is_file():
            log(f"  without {', '.join(names)}: tuned before, read from {kept}")
            tuner = TopLayers(settings.tune_layers, settings.seed)
            tuner.load(kept / ENCODER_TOP)
            yield held, (LinearHead.load(kept), LexicalHead.load(kept), tuner)
            continue
        rest = np.flatnonzero(~held)
        log(f"  tuning without {', '.join(names)}")
        tuned = tuned_heads([states()[i] for i in rest], counted[rest], scores[rest], sources[rest], settings, log)
        if kept is not None:
            _keep(kept, *tuned)
        yield held, tuned


def _keep(folder: Path, head: LinearHead, lexical: LexicalHead, tuner: TopLayers) -> None:
    """Write one fold's fits to `folder`, whole or not at all."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    head.save(partial)
    lexical.save(partial)
    tuner.write(partial / ENCODER_TOP)  # written last: its presence marks a whole fold
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
