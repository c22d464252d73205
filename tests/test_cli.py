"""The `--params` parser accepts what users type: key=value and key:value."""

from __future__ import annotations

import click
import pytest

from spml.cli import normalise_param_items, run, split_params


def _parse(value: str) -> dict:
    option = next(p for p in run.params if p.name == "params")
    return split_params(click.Context(run), option, value)


@pytest.mark.parametrize("typed", ["tau:0.65", "tau=0.65", " tau : 0.65 "])
def test_both_forms_give_the_same_float(typed: str) -> None:
    assert _parse(typed) == {"tau": 0.65}


def test_several_items_nested_keys_and_urls() -> None:
    parsed = _parse("training.epochs:3,data_root=/data/coco,tracking=http://host:5000")
    assert parsed == {
        "training": {"epochs": 3},
        "data_root": "/data/coco",
        "tracking": "http://host:5000",
    }


def test_items_with_equals_are_left_alone() -> None:
    assert normalise_param_items(["uri=s3://bucket:1", "tau:0.5"]) == [
        "uri=s3://bucket:1",
        "tau=0.5",
    ]


def test_an_item_without_separator_is_rejected() -> None:
    with pytest.raises(click.UsageError, match="item `tau` must be key=value"):
        _parse("tau")
    with pytest.raises(click.UsageError, match="item `=3` must be key=value"):
        _parse("=3")


def test_a_list_keeps_its_commas_and_the_items_around_it_split() -> None:
    parsed = _parse("search.lr=[0.01,0.02],training.epochs:3,seeds=[0, 1, 2]")
    assert parsed == {"search": {"lr": [0.01, 0.02]}, "training": {"epochs": 3}, "seeds": [0, 1, 2]}
