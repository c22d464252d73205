"""kedro-viz draws the study in data layers, with node names that read as words."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro_viz.services.layers import sort_layers

LAYERS = ["raw", "primary", "model_input", "models", "model_output", "reporting"]


def _is_data(name: str) -> bool:
    """Parameters are not catalog entries and carry no layer."""
    return not name.startswith("params:") and name != "parameters"


def layer_of(catalog: DataCatalog, name: str) -> str | None:
    """The kedro-viz layer a catalog entry declares in its metadata, if any."""
    metadata = getattr(catalog.get(name), "metadata", None) or {}
    return metadata.get("kedro-viz", {}).get("layer")


def layer_order(pipeline: Pipeline, catalog: DataCatalog) -> list[str]:
    """kedro-viz's own layer order for the graph (empty when the layers form a cycle)."""
    nodes: dict[str, SimpleNamespace] = {}
    children: dict[str, set[str]] = defaultdict(set)
    for task in pipeline.nodes:
        nodes[task.name] = SimpleNamespace(layer=None)
        for name in filter(_is_data, task.inputs):
            children[name].add(task.name)
        children[task.name].update(task.outputs)
    for name in filter(_is_data, pipeline.datasets()):
        nodes[name] = SimpleNamespace(layer=layer_of(catalog, name))
    return sort_layers(nodes, {name: children[name] for name in nodes})


@pytest.mark.parametrize(
    ("env", "params"),
    [
        (None, {}),
        (None, {"model": {"frozen_backbone": True}}),
        (None, {"tau": 0.4}),
        ("voc", {"model": {"name": "small_cnn"}}),
        ("cub", {"model": {"name": "small_cnn"}}),
        ("formatted", {"model": {"name": "small_cnn", "frozen_backbone": True}}),
        ("variants", {}),
    ],
    ids=["study", "frozen_backbone", "one_tau", "voc", "cub", "formatted_features", "variants"],
)
def test_every_dataset_has_a_layer_and_the_layers_follow_the_graph(
    tiny_project: Path, env: str | None, params: dict[str, Any]
) -> None:
    bootstrap_project(tiny_project)
    try:
        with KedroSession.create(
            project_path=tiny_project, env=env, runtime_params=params
        ) as session:
            catalog = session.load_context().catalog
            default = pipelines["__default__"]
            datasets = set(filter(_is_data, default.datasets()))
            layers = {name: layer_of(catalog, name) for name in datasets}
            assert not [name for name, layer in layers.items() if layer is None]
            assert set(layers.values()) <= set(LAYERS)
            used = [layer for layer in LAYERS if layer in layers.values()]
            assert layer_order(default, catalog) == used
    finally:
        pipelines.configure("spml.pipeline_registry")  # as bootstrapping leaves it


def test_node_names_are_a_few_words_unique_within_their_group() -> None:
    names: dict[str | None, list[str]] = defaultdict(list)
    for task in pipelines["__default__"].nodes:
        short = task.name.rsplit(".", 1)[-1]
        names[task.namespace].append(short)
        assert len(short.split("_")) <= 3, task.name
    assert all(len(set(group)) == len(group) for group in names.values())
