"""Project CLI: Kedro's own `run`, also accepting `--params key:value` and failing cleanly."""

from __future__ import annotations

import copy
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import _split_params
from omegaconf import OmegaConf

# Short names for `--runner`: `kedro run --runner dask`.
RUNNER_ALIASES = {"dask": "spml.runner.DaskRunner"}


def normalise_param_items(items: list[str]) -> list[str]:
    """Rewrite `key:value` items as `key=value`; items that already use `=` are kept as typed."""
    normalised = []
    for item in items:
        key, colon, value = item.partition(":")
        normalised.append(item if "=" in item or not colon else f"{key.strip()}={value}")
    return normalised


def split_items(value: str) -> list[str]:
    """Split `--params` at the commas between items, not those inside a [list] or {mapping}:
    `search.lr=[0.01,0.02],training.epochs=3` is two items."""
    items, depth, current = [], 0, []
    for char in value:
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth <= 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def split_params(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Kedro's `--params` parser, fed with both the `key=value` and the `key:value` forms, and
    with lists (`search.lr=[0.01,0.02]`) kept whole."""
    if isinstance(value, dict) or not value:
        return _split_params(ctx, param, value)
    dot_list = []
    for item in normalise_param_items(split_items(value)):
        key, equals, typed = item.partition("=")
        if not equals or not key.strip():
            ctx.fail(f"Invalid format of `{param.name}` option: item `{item}` must be key=value")
        dot_list.append(f"{key.strip()}={typed}")
    return OmegaConf.to_container(OmegaConf.from_dotlist(dot_list))


def _study_run_command() -> click.Command:
    """Kedro's `run` with our `--params` parser and one readable line when a run fails."""
    command = copy.copy(kedro_run)
    command.params = []
    for option in kedro_run.params:
        if option.name == "params":
            option = copy.copy(option)
            option.callback = split_params
            option.help = "Parameters as key=value or key:value pairs, comma separated."
        if option.name == "runner":
            option = copy.copy(option)
            option.help = f"{option.help} Aliases: {', '.join(sorted(RUNNER_ALIASES))}."
        command.params.append(option)

    def callback(**kwargs: Any) -> Any:
        if kwargs.get("pipeline"):  # the documented `--pipeline NAME`, without Kedro's deprecation
            kwargs["pipelines"] = [kwargs.pop("pipeline"), *kwargs["pipelines"]]
            kwargs["pipeline"] = None
        kwargs["runner"] = RUNNER_ALIASES.get(kwargs.get("runner") or "", kwargs.get("runner"))
        try:
            return kedro_run.callback(**kwargs)
        except click.ClickException:
            raise
        except Exception as error:  # noqa: BLE001 - turned into a clean, non-zero exit
            raise click.ClickException(f"{type(error).__name__}: {error}") from error

    command.callback = callback
    return command


@click.group(name="spml")
def cli() -> None:
    """Commands of the spml-pseudo-labels project."""


run = _study_run_command()
cli.add_command(run, "run")
