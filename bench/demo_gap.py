"""How much does single-positive training lose on the demo data set?

Generates the synthetic COCO-format demo (spml.demo) into a temporary folder, builds the
label matrices with the reference protocol (annotated images only, ids sorted as strings,
columns in JSON category order; one observed positive per image from RandomState(1200);
80/20 split of train2014 from RandomState(1200).permutation), and trains small_cnn twice:
(a) full labels with BCE, (b) the observed single positive with AN (assume negative).
The best epoch is chosen by validation mAP on clean labels; test = val2014, full labels.
mAP = 100 x mean over classes with at least one positive of average_precision_score.

Self-contained on purpose (a benchmark must not move when the library's loop changes):

    PYTHONPATH=src .venv/bin/python bench/demo_gap.py [--gen-seeds 0 1] [--train-seeds 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.metrics import average_precision_score

from spml import demo
from spml.demo import generate_demo_coco
from spml.models import build_model

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def load_split(root: Path, split: str, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """Normalised images (N, 3, size, size) and the full label matrix, by the protocol."""
    data = json.loads((root / "annotations" / f"instances_{split}.json").read_text())
    column = {c["id"]: j for j, c in enumerate(data["categories"])}
    files = {str(im["id"]): im["file_name"] for im in data["images"]}
    positives: dict[str, set[int]] = {}
    for ann in data["annotations"]:
        positives.setdefault(str(ann["image_id"]), set()).add(column[ann["category_id"]])
    ids = sorted(positives)
    labels = np.zeros((len(ids), len(column)), dtype=np.float32)
    pixels = np.empty((len(ids), size, size, 3), dtype=np.uint8)
    for row, image_id in enumerate(ids):
        labels[row, sorted(positives[image_id])] = 1.0
        with Image.open(root / split / files[image_id]) as picture:
            pixels[row] = np.asarray(picture.convert("RGB").resize((size, size), Image.BILINEAR))
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0)
    return (images - MEAN) / STD, labels


def single_positive(labels: np.ndarray) -> np.ndarray:
    """Keep one positive per row, consuming RandomState(1200) as the reference does."""
    rng = np.random.RandomState(1200)
    observed = np.zeros_like(labels)
    for row in range(labels.shape[0]):
        pos = np.flatnonzero(labels[row] == 1)
        rng.shuffle(pos)
        observed[row, pos[0]] = 1.0
        neg = np.flatnonzero(labels[row] == 0)
        rng.shuffle(neg)
    return observed


def split_train_val(n: int) -> tuple[np.ndarray, np.ndarray]:
    n_val = int(round(0.2 * n))
    perm = np.random.RandomState(1200).permutation(n)
    return np.sort(perm[: n - n_val]), np.sort(perm[-n_val:])


def mean_ap(labels: np.ndarray, scores: np.ndarray) -> float:
    keep = labels.sum(axis=0) > 0
    return 100.0 * float(
        np.mean([average_precision_score(labels[:, j], scores[:, j]) for j in np.flatnonzero(keep)])
    )


def neg_log(x: torch.Tensor) -> torch.Tensor:
    return -torch.log(x + 1e-5)


def loss_full_bce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    return (y * neg_log(p) + (1 - y) * neg_log(1 - p)).mean()


def loss_an(logits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)  # same formula: observed positive -> -log p, rest -> -log(1-p)
    return (z * neg_log(p) + (1 - z) * neg_log(1 - p)).mean()


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch: int = 256) -> np.ndarray:
    model.eval()
    return torch.cat(
        [torch.sigmoid(model(images[i : i + batch])) for i in range(0, len(images), batch)]
    ).numpy()


def train(
    images: torch.Tensor,
    targets: np.ndarray,
    val_images: torch.Tensor,
    val_labels: np.ndarray,
    loss_fn,
    *,
    seed: int,
    epochs: int,
    batch: int = 64,
    lr: float = 1e-3,
    width: int = 16,
) -> tuple[torch.nn.Module, list[float]]:
    """Adam + random flip; keep the weights of the best validation-mAP epoch."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = build_model("small_cnn", num_classes=targets.shape[1], width=width)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    y = torch.from_numpy(targets)
    best, best_state, history = -1.0, None, []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            x = images[idx]
            flip = torch.rand(len(idx), generator=generator) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            loss = loss_fn(model(x), y[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        score = mean_ap(val_labels, predict(model, val_images))
        history.append(score)
        if score > best:
            best = score
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model, history


def run(gen_seed: int, train_seeds: list[int], args: argparse.Namespace) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "coco_demo"
        start = time.perf_counter()
        generate_demo_coco(
            root,
            seed=gen_seed,
            n_train=args.n_train,
            n_test=args.n_test,
            image_size=args.image_size,
        )
        gen_s = time.perf_counter() - start
        start = time.perf_counter()
        train_x, train_y = load_split(root, "train2014", args.image_size)
        test_x, test_y = load_split(root, "val2014", args.image_size)
        load_s = time.perf_counter() - start
    observed = single_positive(train_y)
    tr, va = split_train_val(len(train_y))
    print(
        f"generator seed {gen_seed}: generated in {gen_s:.1f} s, decoded in {load_s:.1f} s; "
        f"train {len(tr)} / val {len(va)} / test {len(test_y)} images, "
        f"{train_y.shape[1]} classes, {train_y.sum(1).mean():.2f} positives per image",
        flush=True,
    )
    for seed in train_seeds:
        row = {"gen_seed": gen_seed, "train_seed": seed}
        for name, targets, loss_fn in (("full", train_y, loss_full_bce), ("an", observed, loss_an)):
            start = time.perf_counter()
            model, history = train(
                train_x[tr],
                targets[tr],
                train_x[va],
                train_y[va],
                loss_fn,
                seed=seed,
                epochs=args.epochs,
                width=args.width,
            )
            row[f"{name}_s"] = time.perf_counter() - start
            row[f"{name}_val"] = max(history)
            row[f"{name}_test"] = mean_ap(test_y, predict(model, test_x))
            print(
                f"  train seed {seed} {name:>4}: test mAP {row[f'{name}_test']:.2f} "
                f"(best val {max(history):.2f} at epoch {int(np.argmax(history)) + 1}) "
                f"in {row[f'{name}_s']:.1f} s",
                flush=True,
            )
        row["gap"] = row["full_test"] - row["an_test"]
        print(f"  train seed {seed}  gap: {row['gap']:.2f} mAP points", flush=True)
        results.append(row)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gen-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=1500)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KNOB=VALUE",
        help="override a difficulty knob of spml.demo, e.g. _RADIUS=5,11 (tuning)",
    )
    args = parser.parse_args()
    for item in args.set:
        name, value = item.split("=", 1)
        current = getattr(demo, name)
        parsed = (
            tuple(type(current[0])(v) for v in value.split(","))
            if isinstance(current, tuple)
            else type(current)(value)
        )
        setattr(demo, name, parsed)
        print(f"override spml.demo.{name} = {parsed!r}")
    torch.set_num_threads(args.threads)
    rows = [row for g in args.gen_seeds for row in run(g, args.train_seeds, args)]
    print("\nsummary (test mAP on val2014, full labels):")
    for row in rows:
        print(
            f"  gen {row['gen_seed']} train {row['train_seed']}: full {row['full_test']:.2f}  "
            f"AN {row['an_test']:.2f}  gap {row['gap']:.2f}  "
            f"({row['full_s']:.1f} s + {row['an_s']:.1f} s)"
        )
    gaps = [row["gap"] for row in rows]
    print(f"  gap mean {np.mean(gaps):.2f}, min {np.min(gaps):.2f} over {len(gaps)} run(s)")


if __name__ == "__main__":
    main()
