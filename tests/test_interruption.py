"""A training killed by a signal resumes from its last epoch and ends where it would have."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

TRAIN = """
import json, logging, sys
logging.basicConfig(level=logging.INFO)
import numpy as np
from spml.data import LabelledImages
from spml.study import ModelSpec, model_checkpoint, train_and_test
from spml.train_settings import TrainSettings

def split(n, seed):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, 3)) < 0.5).astype(np.float32)
    images = rng.integers(0, 255, size=(n, 3, 16, 16), dtype=np.uint8)
    images[:, 0] //= (1 + targets[:, :1, None]).astype(np.uint8)
    return LabelledImages.from_arrays(images, targets)

checkpoints, out, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
def slow_down(report):
    import time; time.sleep(pause)
spec, train, val = ModelSpec("interrupted", "baseline", "bce"), split(96, 0), split(32, 1)
model = {"name": "small_cnn", "options": {"small_cnn": {"width": 4}}}
settings = TrainSettings(epochs=4, lr=1e-2, batch_size=16, seed=3, device="cpu")
checkpoint = None
if checkpoints:
    checkpoint = model_checkpoint(spec, train, val, model, settings, checkpoints)
trained = train_and_test(
    spec, train, val, split(32, 2), model, settings, checkpoint=checkpoint, on_epoch_end=slow_down
)
json.dump({k: trained.metrics[k] for k in ("test_map", "best_epoch", "history")}, open(out, "w"))
"""


def _start(tmp_path: Path, checkpoints: str, out: Path, pause: float) -> subprocess.Popen:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    return subprocess.Popen(
        [sys.executable, str(script), checkpoints, str(out), str(pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_killed_training_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    interrupted = _start(tmp_path, str(checkpoints), tmp_path / "never.json", pause=30)
    deadline = time.monotonic() + 300
    while not list(checkpoints.glob("interrupted/*.ckpt")):
        assert interrupted.poll() is None, interrupted.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint after epoch 1"
        time.sleep(0.2)
    interrupted.send_signal(signal.SIGKILL)  # mid-run: epoch 1 is saved, epoch 2 is not
    interrupted.wait()
    assert not (tmp_path / "never.json").exists()

    resumed = _start(tmp_path, str(checkpoints), tmp_path / "resumed.json", pause=0)
    resumed_log = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, resumed_log
    assert "resuming" in resumed_log and "after epoch 1" in resumed_log

    straight = _start(tmp_path, "", tmp_path / "straight.json", pause=0)
    assert straight.wait(timeout=300) == 0, straight.stdout.read()

    resumed_metrics = json.loads((tmp_path / "resumed.json").read_text())
    straight_metrics = json.loads((tmp_path / "straight.json").read_text())
    assert resumed_metrics["test_map"] == straight_metrics["test_map"]
    assert [h["val_map"] for h in resumed_metrics["history"]] == [
        h["val_map"] for h in straight_metrics["history"]
    ]
