"""Models are built by name; foreign weights are refused with the keys that do not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spml.models import available_models, build_model, load_weights


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
