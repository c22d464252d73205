"""Per-epoch training state on disk, so an interrupted training resumes where it stopped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spml.atomic import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingState:
    """Everything that moves while a model trains and must come back after a kill."""

    model: nn.Module
    loss: nn.Module
    optimiser: torch.optim.Optimizer
    generator: torch.Generator


@dataclass(frozen=True)
class Checkpoint:
    """One model's checkpoint file, valid only for the inputs its fingerprint describes."""

    path: Path
    fingerprint: str

    def save(self, state: TrainingState, epoch: int, progress: dict[str, Any]) -> None:
        """Write the state after `epoch` with the fit's `progress`, never leaving a torn file."""
        payload = {
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "model": state.model.state_dict(),
            "loss": state.loss.state_dict(),
            "optimiser": state.optimiser.state_dict(),
            "generator": state.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "progress": progress,
        }
        with atomic_path(self.path) as temporary:
            torch.save(payload, temporary)

    def restore(self, state: TrainingState, label: str) -> tuple[int, dict[str, Any]] | None:
        """Load a checkpoint of the same inputs into `state`: (its epoch, its progress), or
        None when there is none or it was made from other inputs or parameters."""
        if not self.path.exists():
            return None
        payload = torch.load(self.path, map_location="cpu", weights_only=True)
        if payload.get("fingerprint") != self.fingerprint or "progress" not in payload:
            log.info(
                "%s: %s was made from other inputs or parameters; training afresh", label, self.path
            )
            return None
        state.model.load_state_dict(payload["model"])
        state.loss.load_state_dict(payload["loss"])
        state.optimiser.load_state_dict(payload["optimiser"])
        state.generator.set_state(payload["generator"])
        torch.set_rng_state(payload["torch_rng"])
        log.info("%s: resuming from %s after epoch %d", label, self.path, payload["epoch"])
        return int(payload["epoch"]), payload["progress"]
