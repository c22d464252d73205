"""Backbones with a multi-label head, built by name so configuration picks the model."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spml.registry import Registry, did_you_mean

log = logging.getLogger(__name__)

ModelBuilder = Callable[..., nn.Module]
MODELS: Registry[ModelBuilder] = Registry("model", parameter="model.name")
register = MODELS.register


def available_models() -> list[str]:
    """List the names configuration may use, for error messages and docs."""
    return MODELS.names()


def build_model(name: str, num_classes: int, **options: object) -> nn.Module:
    """Build a model whose forward returns one logit per class."""
    return MODELS[name](num_classes=num_classes, **options)


def build_from_config(config: Mapping[str, Any], num_classes: int) -> nn.Module:
    """Build the configured model: `name`, with `options.<name>` as its keyword arguments."""
    name = config.get("name")
    options = (config.get("options") or {}).get(name) or {}
    try:
        return build_model(str(name), num_classes, **dict(options))
    except TypeError as error:
        raise ValueError(f"Parameter model.options.{name}: {error}") from error


def check_options(options: Mapping[str, Any]) -> None:
    """Every `model.options` entry, chosen or not, must name a model and only options its
    builder takes, so a misspelt option kept for later is caught now, not hours later."""
    for name, given in options.items():
        if name not in MODELS:
            raise ValueError(
                f"Parameter model.options.{name}: no such model; "
                f"{did_you_mean(name, MODELS.names())}choose one of {MODELS.names()}"
            )
        accepted = sorted(inspect.signature(MODELS[name]).parameters.keys() - {"num_classes"})
        foreign = sorted(set(given or {}) - set(accepted))
        if foreign:
            raise ValueError(
                f"Parameter model.options.{name}: model {name} has no option {foreign[0]!r}; "
                f"{did_you_mean(foreign[0], accepted)}its options are: {accepted}"
            )


def backbone_from_config(config: Mapping[str, Any]) -> tuple[nn.Module, int]:
    """The configured model without its classifier, and the width of the features it outputs."""
    model = build_from_config(config, num_classes=1)
    if hasattr(model, "fc"):
        dim = model.fc.in_features
        model.fc = nn.Identity()
    elif isinstance(model, nn.Sequential) and isinstance(model[-1], nn.Linear):
        dim = model[-1].in_features
        model = model[:-1]
    else:
        raise ValueError(f"Model {config.get('name')!r} has no classifier to strip for features")
    return model, int(dim)


def head_config(in_features: int) -> dict[str, Any]:
    """The model configuration of a linear classifier over frozen features."""
    return {"name": "linear_head", "options": {"linear_head": {"in_features": in_features}}}


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Load weights that must fit exactly, naming the file and every key that does not."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(
        key for key in set(own) & set(state) if tuple(own[key].shape) != tuple(state[key].shape)
    )
    if missing or unexpected or mismatched:
        raise ValueError(
            f"Weights from {source} do not fit the model: missing keys {missing[:10]}, "
            f"unexpected keys {unexpected[:10]}, shape mismatches {mismatched[:10]}"
        )
    model.load_state_dict(state)
    return model


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


@register("small_cnn")
def small_cnn(num_classes: int, width: int = 16) -> nn.Module:
    """A four-stage CNN that trains the demo study in seconds per epoch on a CPU."""
    channels = [width, 2 * width, 4 * width, 8 * width]
    return nn.Sequential(
        _conv_block(3, channels[0]),
        nn.MaxPool2d(2),
        _conv_block(channels[0], channels[1]),
        nn.MaxPool2d(2),
        _conv_block(channels[1], channels[2]),
        nn.MaxPool2d(2),
        _conv_block(channels[2], channels[3]),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels[3], num_classes),
    )


@register("linear_head")
def linear_head(num_classes: int, in_features: int) -> nn.Module:
    """One linear layer over frozen features (the reference's linear_fixed_features)."""
    return nn.Linear(in_features, num_classes)


def torchvision_cache(arch: str) -> list[Path]:
    """Where torchvision keeps its ImageNet weights for `arch` once downloaded (V1 first:
    the weights of the published numbers); read if present, never fetched."""
    import torchvision

    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return [
        folder / Path(weights.url).name for weights in torchvision.models.get_model_weights(arch)
    ]


def _imagenet_weights_file(arch: str, weights_path: str | None, random_init: bool) -> Path | None:
    """The file to start from: the configured one, else torchvision's cached download, else
    nothing when training from scratch was asked for; any other case is an error."""
    parameter = f"model.options.{arch}"
    if weights_path:
        if not Path(weights_path).is_file():
            raise FileNotFoundError(
                f"ImageNet weights for {arch} not found at {weights_path} "
                f"(parameter {parameter}.weights_path)"
            )
        return Path(weights_path)
    if random_init:
        return None
    cached = [path for path in torchvision_cache(arch) if path.is_file()]
    if not cached:
        raise ValueError(
            f"No ImageNet weights for {arch}: set {parameter}.weights_path to a local .pth "
            f"file, copy torchvision's file to {torchvision_cache(arch)[0]}, or set "
            f"{parameter}.random_init: true to train from scratch"
        )
    log.info("Reading %s ImageNet weights from torchvision's cache, %s", arch, cached[0])
    return cached[0]


def _torchvision_resnet(
    arch: str, num_classes: int, weights_path: str | None, random_init: bool
) -> nn.Module:
    """Build a torchvision ResNet whose ImageNet weights come from a local file, never the hub."""
    import torchvision

    model = getattr(torchvision.models, arch)(weights=None)
    path = _imagenet_weights_file(arch, weights_path, random_init)
    if path is not None:
        load_weights(model, torch.load(path, map_location="cpu", weights_only=True), str(path))
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


@register("resnet18")
def resnet18(
    num_classes: int, weights_path: str | None = None, random_init: bool = False
) -> nn.Module:
    """ResNet-18, a cheap stand-in for ResNet-50 on small real data."""
    return _torchvision_resnet("resnet18", num_classes, weights_path, random_init)


@register("resnet50")
def resnet50(
    num_classes: int, weights_path: str | None = None, random_init: bool = False
) -> nn.Module:
    """ResNet-50, the backbone of every published SPML number."""
    return _torchvision_resnet("resnet50", num_classes, weights_path, random_init)
