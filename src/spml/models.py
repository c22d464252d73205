"""Backbones with a multi-label head, built by name so configuration picks the model."""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spml.registry import Registry, did_you_mean

log = logging.getLogger(__name__)

ModelBuilder = Callable[..., nn.Module]
MODELS: Registry[ModelBuilder] = Registry("model", parameter="model.name")
register = MODELS.register
HeadBuilder = Callable[[nn.Module, Mapping[str, Any]], nn.Module]
HEADS: Registry[HeadBuilder] = Registry("head", parameter="model.head")
DEFAULT_HEAD = "linear"
BOOSTLU_ALPHA = 5.0  # Kim et al. (CVPR 2023): the factor on positive class-activation values


def available_models() -> list[str]:
    """List the names configuration may use, for error messages and docs."""
    return MODELS.names()


def build_model(name: str, num_classes: int, **options: object) -> nn.Module:
    """Build a model whose forward returns one logit per class."""
    return MODELS[name](num_classes=num_classes, **options)


def build_from_config(config: Mapping[str, Any], num_classes: int) -> nn.Module:
    """Build the configured model: `name`, with `options.<name>` as its keyword arguments,
    under the classifier head `head` (linear by default)."""
    return HEADS[configured_head(config)](_named_model(config, num_classes), config)


def configured_head(config: Mapping[str, Any]) -> str:
    """The head `model.head` names; a configuration without one (a frozen-mode head) is linear."""
    return str(config.get("head", DEFAULT_HEAD))


def head_in_use(config: Mapping[str, Any]) -> str:
    """The head the models train with: frozen-backbone mode always trains a linear one."""
    return DEFAULT_HEAD if config.get("frozen_backbone") else configured_head(config)


def _named_model(config: Mapping[str, Any], num_classes: int) -> nn.Module:
    """The model `name` with its own linear classifier, as its builder makes it."""
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


def classifier_of(model: nn.Module, name: object) -> nn.Linear | nn.Conv2d:
    """The final layer that turns features into logits (ResNets' fc, a Sequential's last layer,
    a linear head itself, or BoostLU's 1x1 convolution)."""
    if isinstance(model, BoostLUClassifier):
        return model.cam
    if isinstance(model, nn.Linear):
        return model
    if isinstance(getattr(model, "fc", None), nn.Linear):
        return model.fc
    if isinstance(model, nn.Sequential) and isinstance(model[-1], nn.Linear):
        return model[-1]
    raise ValueError(f"Model {name!r} has no final linear classifier")


def backbone_from_config(config: Mapping[str, Any]) -> tuple[nn.Module, int]:
    """The configured model without its classifier, and the width of the features it outputs."""
    if configured_head(config) != DEFAULT_HEAD:
        log.warning(
            "model.head=%s is not used in frozen-backbone mode: a linear head trains on the "
            "pooled features",
            configured_head(config),
        )
    model = _named_model(config, num_classes=1)
    if isinstance(model, nn.Linear):
        raise ValueError(f"Model {config.get('name')!r} has no backbone to extract features with")
    dim = classifier_of(model, config.get("name")).in_features
    if hasattr(model, "fc"):
        model.fc = nn.Identity()
    else:
        model = model[:-1]
    return model, int(dim)


def feature_map_and_classifier(model: nn.Module) -> tuple[nn.Module, nn.Linear]:
    """Split a built model into what yields its last feature map and the linear classifier
    applied to that map's global average (torchvision ResNets and Sequential CNNs)."""
    names = [name for name, _ in model.named_children()]
    if names[-2:] == ["avgpool", "fc"] and isinstance(model.fc, nn.Linear):  # torchvision ResNet
        return nn.Sequential(*list(model.children())[:-2]), model.fc
    if (
        isinstance(model, nn.Sequential)
        and len(model) > 3
        and isinstance(model[-3], nn.AdaptiveAvgPool2d)
        and model[-3].output_size in (1, (1, 1))
        and isinstance(model[-2], nn.Flatten)
        and isinstance(model[-1], nn.Linear)
    ):
        return model[:-3], model[-1]
    raise ValueError(
        f"Parameter model.head: {type(model).__name__} has no globally averaged feature map "
        "to compute class activation maps from; use model.head: linear"
    )


class BoostLUClassifier(nn.Module):
    """BoostLU (Kim et al., CVPR 2023, github.com/youngwk/BridgeGapExplanationPAMC): class
    activation maps from a 1x1 convolution on the last feature map, positive values x alpha,
    logits = the maps' global average, in training and evaluation as the reference.

    The convolution starts from the model's own linear classifier (the same init distribution
    as the reference's fresh 1x1 convolution), so with alpha = 1 the logits equal the linear
    head's on the pooled features: the mean of an affine map is the affine map of the mean.
    """

    def __init__(self, features: nn.Module, classifier: nn.Linear, alpha: float) -> None:
        super().__init__()
        self.features = features
        self.cam = nn.Conv2d(classifier.in_features, classifier.out_features, kernel_size=1)
        with torch.no_grad():
            self.cam.weight.copy_(classifier.weight[:, :, None, None])
            self.cam.bias.copy_(classifier.bias)
        self.alpha = alpha

    def class_activation_maps(self, x: torch.Tensor) -> torch.Tensor:
        """B x C x H x W maps, positive values boosted by alpha."""
        maps = self.cam(self.features(x))
        return torch.where(maps > 0, maps * self.alpha, maps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B x C logits: the global average of the boosted maps."""
        return self.class_activation_maps(x).mean(dim=(-2, -1))

    def extra_repr(self) -> str:
        """Show alpha when the model is printed."""
        return f"alpha={self.alpha}"


@HEADS.register(DEFAULT_HEAD)
def linear_classifier(model: nn.Module, config: Mapping[str, Any]) -> nn.Module:
    """The model as built: a linear classifier on globally averaged features."""
    return model


@HEADS.register("boostlu")
def boostlu_classifier(model: nn.Module, config: Mapping[str, Any]) -> nn.Module:
    """The model's classifier turned into BoostLU over class activation maps."""
    alpha = config.get("boostlu_alpha", BOOSTLU_ALPHA)
    numeric = isinstance(alpha, int | float) and not isinstance(alpha, bool)
    if not (numeric and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"Parameter model.boostlu_alpha must be a number > 0, got {alpha!r}")
    features, classifier = feature_map_and_classifier(model)
    return BoostLUClassifier(features, classifier, float(alpha))


def _drop_features(rate: float, module: nn.Module, args: tuple[torch.Tensor]) -> tuple:
    """Dropout on the classifier's input, only while the model trains."""
    return (nn.functional.dropout(args[0], rate, module.training),)


def with_dropout(model: nn.Module, rate: float, name: object = "model") -> nn.Module:
    """Noisy Student's model noise: dropout before the classifier. A hook, not a new layer, so
    the weights keep their names and a noisy student's weights load into a plain model."""
    if not 0 <= rate < 1:
        raise ValueError(f"Parameter student.dropout must be in [0, 1), got {rate!r}")
    if rate > 0:
        classifier_of(model, name).register_forward_pre_hook(partial(_drop_features, rate))
    return model


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


def _conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


@register("small_cnn")
def small_cnn(num_classes: int, width: int = 16) -> nn.Module:
    """A four-stage CNN that trains the demo study in seconds per epoch on a CPU. Its first
    convolution has stride 2: at full resolution a stage's batch norm would cost a third of the
    step (measured on the demo, where the strided stem was also 1 to 1.5 mAP better)."""
    channels = [width, 2 * width, 4 * width, 8 * width]
    return nn.Sequential(
        _conv_block(3, channels[0], stride=2),
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
