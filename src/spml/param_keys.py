"""Runtime parameter keys checked against the configured ones: a typo stops the run at once
instead of being ignored while hours of the wrong training run."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from spml.registry import closest


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf value, the way `--params` spells nested parameters."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def unknown_keys(
    runtime: Mapping[str, Any],
    configured: Mapping[str, Any],
    free_form: Collection[str],
    prefix: str = "",
) -> list[str]:
    """The dotted runtime keys the configuration lacks; keys under a free-form branch (options
    of a loss or model, checked by what they configure) are left to that check."""
    unknown = []
    for key, value in runtime.items():
        path = f"{prefix}{key}"
        if path in free_form:
            continue
        if key not in configured:
            unknown.append(path)
        elif isinstance(value, Mapping) and isinstance(configured[key], Mapping):
            unknown.extend(unknown_keys(value, configured[key], free_form, f"{path}."))
    return unknown


def _valid_keys(
    configured: Mapping[str, Any], free_form: Collection[str], prefix: str = ""
) -> list[str]:
    """Every dotted key of the configuration, branches included, free-form branches not entered."""
    keys = []
    for key, value in configured.items():
        path = f"{prefix}{key}"
        keys.append(path)
        if isinstance(value, Mapping) and path not in free_form:
            keys.extend(_valid_keys(value, free_form, f"{path}."))
    return keys


def _hint(key: str, configured: Mapping[str, Any], free_form: Collection[str]) -> str:
    """The closest valid keys: among its siblings when only the last part is wrong, else among
    every key; failing that, the valid keys beside it."""
    parts = key.split(".")
    parent, node = "", configured
    for part in parts[:-1]:
        if not isinstance(node.get(part), Mapping):
            break
        parent, node = f"{parent}{part}.", node[part]
    if f"{parent}{parts[-1]}" == key:
        close = [parent + name for name in closest(parts[-1], node)]
    else:
        close = closest(key, _valid_keys(configured, free_form))
    if close:
        return f"did you mean {' or '.join(close)}?"
    return f"valid keys here: {sorted(parent + name for name in node)}"


def check_runtime_keys(
    runtime: Mapping[str, Any], configured: Mapping[str, Any], free_form: Collection[str]
) -> None:
    """Stop, naming each unknown key and the closest valid ones, before anything runs."""
    unknown = unknown_keys(runtime, configured, free_form)
    if not unknown:
        return
    lines = [f"  - {key}: {_hint(key, configured, free_form)}" for key in unknown]
    raise ValueError(
        "Unknown parameter key(s) given at run time (--params or runtime_params); the valid "
        "keys are those of the configuration of this environment:\n"
        + "\n".join(lines)
        + f"\nOptions of a loss or model ({', '.join(f'{b}.*' for b in free_form)}) are "
        "checked against what the chosen loss or model accepts."
    )
