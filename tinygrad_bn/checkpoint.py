"""Training checkpoints: everything a run needs to continue bit for bit, in one ``tg.save`` file.

    save_checkpoint(path, epoch=3, model=model, optimizer=opt, scheduler=sched, loader=loader,
                    generators={"shift": shift.rng}, meta={"history": rows})
    ...
    ck = load_checkpoint(path)                     # checks the file; changes nothing
    restore_checkpoint(ck, model=model, optimizer=opt, scheduler=sched, loader=loader,
                       generators={"shift": shift.rng})                 # all or nothing
    fit(..., start_epoch=ck.epoch + 1)

A checkpoint holds the model's ``state_dict``, the optimizer's and the scheduler's, the state of
the package's default random generator (dropout masks, and shuffling without a seed), of any other
numpy Generators named in ``generators`` (e.g. an augmentation's), the loader's epoch counter (a
seeded ``DataLoader`` draws epoch e's order from (seed, e)), the number of finished epochs, and
``meta``: any JSON-serializable mapping (strict JSON: NaN and infinity are refused). Continuing from
it gives the parameters an uninterrupted run would have, bit for bit, with the same code, numpy and
BLAS thread count.

The file is an ordinary ``tg.save`` archive (no pickle), written atomically: an interrupted save
leaves the previous checkpoint in place. Generator states are stored as JSON text (numpy's PCG64
state holds 128-bit integers, which no numpy array holds).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .random import default_generator
from .serialization import load, save, unflatten

__all__ = ["save_checkpoint", "load_checkpoint", "restore_checkpoint", "Checkpoint", "FORMAT"]

FORMAT = "tinygrad_bn training checkpoint 1"


@dataclass
class Checkpoint:
    """A checkpoint read by :func:`load_checkpoint`: the finished epochs, the saved states, ``meta``."""

    path: Path
    epoch: int
    model: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    loader_epoch: int | None
    generators: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _state_json(gen: np.random.Generator, name: str) -> str:
    if not isinstance(gen, np.random.Generator):
        raise TypeError(f"save_checkpoint: generator {name!r} must be a numpy.random.Generator, "
                        f"got {type(gen).__name__}")
    return json.dumps(gen.bit_generator.state)


def save_checkpoint(path: str | os.PathLike[str], *, epoch: int, model: Any, optimizer: Any, scheduler: Any = None,
                    loader: Any = None, generators: Mapping[str, np.random.Generator] | None = None,
                    meta: Mapping[str, Any] | None = None) -> Path:
    """Write the training state after ``epoch`` finished epochs to ``path``, atomically; returns the path."""
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"save_checkpoint: epoch must be an integer >= 0, got {epoch!r}")
    gens = {"default": _state_json(default_generator(), "default")}
    for name, gen in (generators or {}).items():
        if name == "default":
            raise ValueError("save_checkpoint: 'default' names the package's generator; choose another name")
        gens[name] = _state_json(gen, name)
    try:
        meta_text = json.dumps(dict(meta or {}), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"save_checkpoint: meta must be strict JSON (no NaN, no infinity, no objects): {e}") from None
    state: dict[str, Any] = {"format": FORMAT, "epoch": int(epoch), "model": model.state_dict(),
                             "optimizer": optimizer.state_dict(), "generators": gens, "meta": meta_text}
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if loader is not None:
        state["loader_epoch"] = int(loader.epoch)
    save(state, path)
    return Path(path)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and check a checkpoint written by :func:`save_checkpoint` (ValueError naming the file if it
    is not one); nothing is restored yet."""
    path = Path(path)
    flat = load(path)
    tree = unflatten(flat)
    fmt = tree.get("format")
    if not isinstance(fmt, np.ndarray) or fmt.ndim != 0 or str(fmt) != FORMAT:
        raise ValueError(f"load_checkpoint: {path} is not a training checkpoint (no {FORMAT!r} marker)")
    try:
        epoch = int(tree["epoch"])
        gens = {k: json.loads(str(v)) for k, v in tree["generators"].items()}
        meta = json.loads(str(tree["meta"]))
        model, optimizer = tree["model"], tree["optimizer"]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"load_checkpoint: {path} is damaged ({type(e).__name__}: {e})") from None
    if epoch < 0 or "default" not in gens:
        raise ValueError(f"load_checkpoint: {path} is damaged (epoch {epoch}, generators {sorted(gens)})")
    loader_epoch = int(tree["loader_epoch"]) if "loader_epoch" in tree else None
    return Checkpoint(path, epoch, model, optimizer, tree.get("scheduler"), loader_epoch, gens, meta)


def restore_checkpoint(checkpoint: Checkpoint, *, model: Any, optimizer: Any, scheduler: Any = None,
                       loader: Any = None, generators: Mapping[str, np.random.Generator] | None = None) -> int:
    """Load every saved state into the given objects, all or nothing; returns the finished epochs.

    The objects must be built as for the original run (same model, optimizer and scheduler kinds);
    any mismatch raises ValueError naming the checkpoint and what did not fit, and leaves every
    object as it was.
    """
    where = f"restore_checkpoint: {checkpoint.path}"
    names = set(generators or {})
    if names != set(checkpoint.generators) - {"default"}:
        raise ValueError(f"{where}: holds generators {sorted(set(checkpoint.generators) - {'default'})}, "
                         f"expected {sorted(names)}")
    if (scheduler is None) != (checkpoint.scheduler is None) or (loader is None) != (checkpoint.loader_epoch is None):
        raise ValueError(f"{where}: saved with{'out' if checkpoint.scheduler is None else ''} a scheduler and "
                         f"with{'out' if checkpoint.loader_epoch is None else ''} a loader; they must match")
    all_gens = {"default": default_generator(), **(generators or {})}
    for name, gen in all_gens.items():
        kind = checkpoint.generators[name].get("bit_generator")
        if kind != type(gen.bit_generator).__name__:
            raise ValueError(f"{where}: generator {name!r} was a {kind}, this one is a "
                             f"{type(gen.bit_generator).__name__}")
    before = (model.state_dict(), optimizer.state_dict(), scheduler.state_dict() if scheduler is not None else None,
              {name: gen.bit_generator.state for name, gen in all_gens.items()})
    try:
        model.load_state_dict(checkpoint.model)
        optimizer.load_state_dict(checkpoint.optimizer)
        if scheduler is not None:
            scheduler.load_state_dict(checkpoint.scheduler)
        for name, gen in all_gens.items():
            gen.bit_generator.state = checkpoint.generators[name]
    except (ValueError, TypeError, KeyError) as e:
        model.load_state_dict(before[0])
        optimizer.load_state_dict(before[1])
        if scheduler is not None:
            scheduler.load_state_dict(before[2])
        for name, gen in all_gens.items():
            gen.bit_generator.state = before[3][name]
        raise ValueError(f"{where}: does not fit this run: {e}") from None
    if loader is not None:
        loader.epoch = checkpoint.loader_epoch
    return checkpoint.epoch
