"""Models and heads are built by name; foreign weights are refused with the keys that do not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spml.models import (
    available_models,
    backbone_from_config,
    build_from_config,
    build_model,
    head_config,
    head_in_use,
    load_weights,
)


def test_unknown_names_list_the_choices() -> None:
    with pytest.raises(ValueError, match="model.name") as caught:
        build_model("vgg_99", 3)
    assert all(name in str(caught.value) for name in available_models())


def test_weights_that_do_not_fit_name_the_source_and_keys() -> None:
    model = build_model("small_cnn", 3, width=4)
    state = dict(model.state_dict())
    state["extra.weight"] = torch.zeros(1)
    del state["0.0.weight"]
    state["9.weight"] = torch.zeros(7, 32)  # another number of classes
    with pytest.raises(ValueError) as caught:
        load_weights(model, state, "teacher.pt")
    message = str(caught.value)
    assert "teacher.pt" in message and "0.0.weight" in message
    assert "extra.weight" in message and "9.weight" in message


def test_resnet_reads_local_weights_and_never_downloads(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ValueError, match=r"model\.options\.resnet18\.weights_path"):
        build_model("resnet18", 5)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_model("resnet18", 5, weights_path=str(tmp_path / "missing.pth"))
    imagenet_like = build_model("resnet18", 1000, random_init=True).state_dict()
    torch.save(imagenet_like, tmp_path / "resnet18.pth")
    model = build_model("resnet18", 5, weights_path=str(tmp_path / "resnet18.pth"))
    assert model.fc.out_features == 5
    assert torch.equal(model.conv1.weight, imagenet_like["conv1.weight"])


def test_resnet_falls_back_on_torchvisions_own_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch/hub/checkpoints/resnet18-f37072fd.pth"
    with pytest.raises(ValueError, match=str(cached)):  # says where to put the file
        build_model("resnet18", 5)
    cached.parent.mkdir(parents=True)
    imagenet_like = build_model("resnet18", 1000, random_init=True).state_dict()
    torch.save(imagenet_like, cached)
    model = build_model("resnet18", 5)
    assert torch.equal(model.conv1.weight, imagenet_like["conv1.weight"])
    scratch = build_model("resnet18", 5, random_init=True)
    assert not torch.equal(scratch.conv1.weight, model.conv1.weight)


# ---- heads -----------------------------------------------------------------------------------

BACKBONES = [
    ("small_cnn", {"width": 4}),
    ("resnet18", {"random_init": True}),
    ("resnet50", {"random_init": True}),
]


def built(name: str, options: dict, **head: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_from_config({"name": name, "options": {name: options}, **head}, num_classes=6)


@pytest.mark.parametrize(("name", "options"), BACKBONES)
def test_boostlu_with_alpha_1_equals_the_linear_head(name: str, options: dict) -> None:
    linear = built(name, options)
    boostlu = built(name, options, head="boostlu", boostlu_alpha=1)
    boosted = built(name, options, head="boostlu")  # alpha 5
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    for training in (True, False):  # BoostLU acts in training and in evaluation alike
        for model in (linear, boostlu, boosted):
            model.train(training)
        with torch.no_grad():
            expected = linear(x)
            assert torch.allclose(boostlu(x), expected, rtol=1e-4, atol=1e-5)
            assert not torch.allclose(boosted(x), expected, rtol=1e-2, atol=1e-2)


def test_boostlu_multiplies_positive_map_values_by_alpha_then_averages() -> None:
    model = built("small_cnn", {"width": 4}, head="boostlu", boostlu_alpha=3.0).eval()
    plain = built("small_cnn", {"width": 4}).eval()  # same seed: same backbone and classifier
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        feature_map = plain[:-3](x)  # B x D x H x W, before the global average
        maps = torch.einsum("cd,bdhw->bchw", plain[-1].weight, feature_map)
        maps = maps + plain[-1].bias[None, :, None, None]
        boosted = torch.where(maps > 0, 3.0 * maps, maps)
        expected = boosted.mean(dim=(2, 3))
        assert (maps > 0).any() and (maps < 0).any()  # both branches of BoostLU are exercised
        assert torch.allclose(model(x), expected, atol=1e-5)


def test_boostlu_weights_round_trip_and_keep_imagenet_weights(tmp_path: Path) -> None:
    imagenet_like = build_model("resnet18", 1000, random_init=True).state_dict()
    torch.save(imagenet_like, tmp_path / "resnet18.pth")
    config = {
        "name": "resnet18",
        "options": {"resnet18": {"weights_path": str(tmp_path / "resnet18.pth")}},
        "head": "boostlu",
    }
    model = build_from_config(config, num_classes=4)
    assert torch.equal(model.features[0].weight, imagenet_like["conv1.weight"])
    assert model.cam.weight.shape == (4, 512, 1, 1)
    again = load_weights(build_from_config(config, num_classes=4), model.state_dict(), "t.pt")
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(again.eval()(x), model.eval()(x))


def test_bad_heads_are_named() -> None:
    config = {"name": "small_cnn", "options": {"small_cnn": {"width": 4}}}
    with pytest.raises(ValueError, match=r"model\.head.*'boostlu'.*'linear'"):
        build_from_config({**config, "head": "gap"}, 3)
    for alpha in (0, -1.0, "5", True, float("inf")):
        with pytest.raises(ValueError, match="model.boostlu_alpha"):
            build_from_config({**config, "head": "boostlu", "boostlu_alpha": alpha}, 3)
    with pytest.raises(ValueError, match="model.head: Linear has no globally averaged feature map"):
        build_from_config({**head_config(8), "head": "boostlu"}, 3)


def test_frozen_backbone_mode_keeps_its_linear_head(caplog: pytest.LogCaptureFixture) -> None:
    config = {
        "name": "small_cnn",
        "options": {"small_cnn": {"width": 4}},
        "head": "boostlu",
        "frozen_backbone": True,
    }
    backbone, width = backbone_from_config(config)
    assert width == 32 and backbone(torch.randn(2, 3, 16, 16)).shape == (2, 32)
    assert "not used in frozen-backbone mode" in caplog.text
    assert head_in_use(config) == "linear"
    assert head_in_use({**config, "frozen_backbone": False}) == "boostlu"
    assert head_in_use({"name": "small_cnn"}) == "linear"
