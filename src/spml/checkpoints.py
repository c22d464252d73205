"""Per-epoch training state on disk, so an interrupted training resumes where it stopped.

Each model has a folder (`<checkpoints>/<model>/`) holding one checkpoint per fingerprint of
its inputs and parameters, so an experiment never overwrites the default training:
`<fingerprint>.ckpt` (the last epoch) and `<fingerprint>.previous.ckpt` (the epoch before,
in case the last cannot be read). A file that cannot be read is renamed
`*.unreadable-<time>` and kept. After each save only the checkpoints of the KEPT_SETTINGS
most recently saved fingerprints stay. `model.lock` lets one process at a time train it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from torch import nn

from spml.atomic import atomic_path

log = logging.getLogger(__name__)

# Fingerprints (settings) whose checkpoints each model keeps; older ones are deleted.
KEPT_SETTINGS = 3

# What torch.load raises for a truncated, torn or foreign file.
UNREADABLE = (
    RuntimeError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
)


@dataclass(frozen=True)
class TrainingState:
    """Everything that moves while a model trains and must come back after a kill."""

    model: nn.Module
    loss: nn.Module
    optimiser: torch.optim.Optimizer
    generator: torch.Generator


@dataclass
class Checkpoint:
    """One model's checkpoints for the inputs and parameters its fingerprint describes."""

    folder: Path
    fingerprint: str
    run_id: str | None = None  # the MLflow run of this training, saved with every epoch
    _loaded: tuple[Path, dict[str, Any]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def path(self) -> Path:
        """The last epoch's state."""
        return self.folder / f"{self.fingerprint[:16]}.ckpt"

    @property
    def previous(self) -> Path:
        """The state of the epoch before the last."""
        return self.folder / f"{self.fingerprint[:16]}.previous.ckpt"

    def __getstate__(self) -> dict[str, Any]:
        """DDP processes read the file again rather than receive a copy of its tensors."""
        return {**self.__dict__, "_loaded": None}

    @contextlib.contextmanager
    def locked(self, label: str) -> Iterator[None]:
        """Hold the model's lock: a second run of the same model waits here for the first, then
        finds its checkpoint and reuses (or resumes) it instead of training alongside."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.folder / "model.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.warning(
                "%s: another process is training this model (lock %s); waiting for it to "
                "finish, then its checkpoint is reused",
                label,
                lock.lock_file,
            )
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def load(self, label: str) -> dict[str, Any] | None:
        """The newest readable state saved for this fingerprint, or None; a file that cannot
        be read is set aside with a warning naming it, and the one before it is tried."""
        found = self._read(label)
        return None if found is None else found[1]

    def _read(self, label: str) -> tuple[Path, dict[str, Any]] | None:
        """(file, payload) of the newest readable state, read once until the next save."""
        if self._loaded is not None:
            return self._loaded
        for path in (self.path, self.previous):
            if not path.exists():
                continue
            try:
                payload = torch.load(path, map_location="cpu", weights_only=True)
                if payload["fingerprint"] != self.fingerprint:
                    raise ValueError("it was saved for other inputs or parameters")
            except UNREADABLE as error:
                log.warning(
                    "%s: checkpoint %s cannot be read (%s: %s); it is kept as %s and the model "
                    "resumes from an earlier readable state, or trains from scratch",
                    label,
                    path,
                    type(error).__name__,
                    str(error).split(". ")[0],
                    _set_aside(path),
                )
                continue
            self._loaded = path, payload
            return self._loaded
        return None

    def recorded_run(self, label: str) -> str | None:
        """The MLflow run this training recorded: to continue when unfinished, to reuse (not
        to repeat) when finished."""
        payload = self.load(label)
        return None if payload is None else payload.get("run_id")

    def save(self, state: TrainingState, epoch: int, progress: dict[str, Any]) -> None:
        """Write the state after `epoch` with the fit's `progress`, never leaving a torn file;
        the last epoch's file becomes the previous one."""
        payload = {
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "run_id": self.run_id,
            "model": state.model.state_dict(),
            "loss": state.loss.state_dict(),
            "optimiser": state.optimiser.state_dict(),
            "generator": state.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "progress": progress,
        }
        with atomic_path(self.path) as temporary:
            torch.save(payload, temporary)
            with temporary.open("rb") as written:
                os.fsync(written.fileno())  # on disk before it replaces anything
            if self.path.exists():
                os.replace(self.path, self.previous)
        self._loaded = None
        self._prune()

    def restore(self, state: TrainingState, label: str) -> tuple[int, dict[str, Any]] | None:
        """Load the newest readable state of these inputs into `state`: (its epoch, its
        progress), or None when there is none."""
        found = self._read(label)
        if found is None:
            log.info("%s: no checkpoint of these inputs and parameters; training afresh", label)
            return None
        path, payload = found
        state.model.load_state_dict(payload["model"])
        state.loss.load_state_dict(payload["loss"])
        state.optimiser.load_state_dict(payload["optimiser"])
        state.generator.set_state(payload["generator"])
        torch.set_rng_state(payload["torch_rng"])
        log.info("%s: resuming from %s after epoch %d", label, path, payload["epoch"])
        return int(payload["epoch"]), payload["progress"]

    def _prune(self) -> None:
        """Keep the checkpoints of this fingerprint and of the most recently saved others, up
        to KEPT_SETTINGS fingerprints in all."""
        others: dict[str, list[Path]] = {}
        for path in self.folder.glob("*.ckpt"):
            name = path.name.split(".")[0]
            if name != self.path.stem:
                others.setdefault(name, []).append(path)
        newest_first = sorted(
            others.values(),
            key=lambda paths: max(path.stat().st_mtime_ns for path in paths),
            reverse=True,
        )
        for paths in newest_first[KEPT_SETTINGS - 1 :]:
            for path in paths:
                path.unlink(missing_ok=True)
                log.info(
                    "Deleted %s: only the last %d settings keep checkpoints", path, KEPT_SETTINGS
                )


def _set_aside(path: Path) -> Path:
    """Rename an unreadable file so it is kept for inspection but never read again."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.unreadable-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = path.with_name(f"{path.name}.unreadable-{stamp}-{counter}")
    os.replace(path, aside)
    return aside
