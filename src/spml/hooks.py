"""Session hooks: shape the pipelines from parameters, make the demo data, check inputs early."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

log = logging.getLogger(__name__)

RAW_INPUTS = (  # the raw layer: each environment's catalog points them at its data set's files
    "raw_train_labels",
    "raw_test_labels",
    "raw_train_images",
    "raw_test_images",
    "pre_extracted_train_features",
    "pre_extracted_test_features",
)


class StudyDesignHooks:
    """Check parameters and tracking first, then build the pipelines for this session's design."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow contacts the tracking server
    def after_context_created(self, context: Any) -> None:
        from spml import tracking
        from spml.param_keys import check_runtime_keys
        from spml.pipeline_registry import register_study
        from spml.pipelines.design import (
            FREE_FORM,
            PRE_EXTRACTED,
            check_parameters,
            configured_parameters,
            design_from_parameters,
        )

        loader = context.config_loader
        configured = configured_parameters(loader.conf_source, context.env)
        check_runtime_keys(loader.runtime_params or {}, configured, FREE_FORM)
        params = context.params
        catalog = loader["catalog"]
        design = design_from_parameters(params, catalog)
        if design.pre_extracted_features:
            log.info("Frozen-backbone mode on the pre-extracted features: no image is decoded")
        elif design.frozen_backbone and PRE_EXTRACTED[0] in catalog:
            log.info(
                "No pre-extracted features at %s: the backbone extracts them from the images",
                catalog[PRE_EXTRACTED[0]]["filepath"],
            )
        check_parameters(params, backbone_needed=not design.pre_extracted_features)
        register_study(design)
        mlflow_config = loader["mlflow"]
        uri = str(mlflow_config["server"]["mlflow_tracking_uri"])
        tracking.check_reachable(uri)
        tracking.end_abandoned_runs(uri, str(mlflow_config["tracking"]["experiment"]["name"]))

    @hook_impl
    def before_pipeline_run(self) -> None:
        """kedro-mlflow has opened the study's run: mark it as this process's, and its
        experiment as model training (see tracking)."""
        from spml import tracking

        tracking.claim_active_run()

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any], run_id: str) -> None:
        """Versioned models are saved under the run id: tag each model's MLflow run with it."""
        from spml import tracking

        tracking.tag_model_version(outputs, run_id)


class StageTimingHooks:
    """One log line per node once its outputs are saved, with its wall time (saving included)."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._unsaved: dict[str, int] = {}

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._started[node.name] = time.perf_counter()
        self._unsaved[node.name] = len(node.outputs)

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        if not node.outputs:
            self._finish(node.name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Any) -> None:
        if node is None or node.name not in self._unsaved:
            return
        self._unsaved[node.name] -= 1
        if self._unsaved[node.name] == 0:
            self._finish(node.name)

    def _finish(self, name: str) -> None:
        seconds = time.perf_counter() - self._started.pop(name, time.perf_counter())
        self._unsaved.pop(name, None)
        log.info("Stage %s finished in %.1f s", name, seconds)


class StudyInputsHooks:
    """Before any node runs: generate the demo if it is due, then insist every input exists
    and every image cache still matches the raw files it was decoded from."""

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}
        self._catalog_config: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._params = dict(context.params)
        self._catalog_config = dict(context.config_loader["catalog"])

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run for a study that cannot start
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        if set(RAW_INPUTS) & pipeline.inputs():
            self._generate_demo_if_due()
        missing = [
            name
            for name in sorted(pipeline.inputs())
            if not name.startswith("params:") and name != "parameters" and not catalog.exists(name)
        ]
        if missing:
            raise MissingInputsError(self._producing_commands(missing, run_params), catalog)
        self._check_image_caches(pipeline, catalog, run_params)

    def _generate_demo_if_due(self) -> None:
        """The demo is made on first use, only at its own root on a local disk (upload it
        yourself to shared storage), never over a user's data."""
        demo = self._params.get("demo") or {}
        data_root = str(self._params.get("data_root"))
        if (
            not demo.get("generate")
            or "://" in data_root
            or Path(data_root).resolve() != Path(str(demo["root"])).resolve()
        ):
            return
        from spml.demo import ensure_demo_coco

        options = {
            key: demo[key] for key in ("seed", "n_train", "n_test", "image_size") if key in demo
        }
        ensure_demo_coco(demo["root"], **options)

    def _producing_commands(
        self, names: list[str], run_params: dict[str, Any]
    ) -> dict[str, str | None]:
        """For each dataset, the command whose pipeline makes it (a threshold's: that tau
        only), or None for raw data no pipeline makes."""
        from spml.pipeline_registry import PIPELINES, register_pipelines
        from spml.pipelines.design import design_from_parameters
        from spml.pseudo import tau_slug

        design = design_from_parameters(self._params, self._catalog_config)
        registered = register_pipelines(design)
        commands: dict[str, str | None] = {}
        for name in names:
            makers = [p for p in PIPELINES if name in registered[p].all_outputs()]
            taus = [{"tau": tau} for tau in design.taus if name.endswith(tau_slug(tau))]
            commands[name] = run_command(makers[0], run_params, *taus) if makers else None
        return commands

    def _check_image_caches(
        self, pipeline: Pipeline, catalog: DataCatalog, run_params: dict[str, Any]
    ) -> None:
        """Stop when a cache the pipeline reads (directly or through its frozen features) no
        longer matches its raw folder: names, sizes and mtimes, no decoding."""
        from spml.datasets import ImageCacheDataset
        from spml.pipelines.design import design_from_parameters

        read = pipeline.inputs() & IMAGE_CACHES.keys()
        if design_from_parameters(self._params, self._catalog_config).pre_extracted_features:
            read -= {"train_features", "test_features"}  # from their files, not from a cache
        caches = sorted({IMAGE_CACHES[name] for name in read})
        stale = {}
        for name in caches:
            dataset = catalog.get(name)
            # Frozen mode may read features whose image cache was deleted to free disk.
            if not isinstance(dataset, ImageCacheDataset) or not dataset.exists():
                continue
            problems = dataset.changes(int(self._params["image_size"]))
            if problems:
                stale[f"{name} ({_where(name, catalog)})"] = problems
        if stale:
            raise StaleImageCacheError(stale, run_command("data_engineering", run_params))


# The image caches, and what a pipeline may read instead of them (frozen-backbone features).
IMAGE_CACHES = {
    "train_images": "train_images",
    "test_images": "test_images",
    "train_features": "train_images",
    "test_features": "test_images",
}


def run_command(pipeline: str, run_params: dict[str, Any], *params: dict[str, Any]) -> str:
    """`kedro run --pipeline NAME` with this session's environment and runtime parameters,
    its thresholds (tau, taus) replaced by `params`."""
    from spml.param_keys import flatten

    words = ["kedro run", f"--pipeline {pipeline}"]
    if run_params.get("env"):
        words.append(f"--env {run_params['env']}")
    given = {
        key: value
        for key, value in flatten(run_params.get("runtime_params") or {}).items()
        if key.split(".")[0] not in ("tau", "taus")
    }
    for extra in params:
        given.update(extra)
    if given:
        words.append("--params " + ",".join(f"{k}={_cli_value(v)}" for k, v in given.items()))
    return " ".join(words)


def _cli_value(value: Any) -> str:
    """A parameter value as `--params` reads it back."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(map(_cli_value, value)) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


class MissingInputsError(RuntimeError):
    """Names each missing dataset and the command that makes it, before any training starts."""

    def __init__(self, commands: dict[str, str | None], catalog: DataCatalog) -> None:
        lines = [
            f"  - {name}: {_where(name, catalog)}" + (f", made by `{command}`" if command else "")
            for name, command in commands.items()
        ]
        advice = []
        if set(commands) & set(RAW_INPUTS):  # no pipeline makes these: the user provides them
            advice.append(_raw_data_advice(catalog))
        if any(commands.values()):
            advice.append("Run those commands first, or `kedro run` for the whole study.")
        super().__init__(
            "These inputs of the requested pipeline do not exist yet:\n" + "\n".join(lines + advice)
        )


class StaleImageCacheError(RuntimeError):
    """Names each image cache that no longer matches its raw files, and the command that
    rebuilds it, before a model trains on pixels that are not on disk any more."""

    def __init__(self, stale: dict[str, list[str]], command: str) -> None:
        lines = [f"  - {name}: {'; '.join(problems)}" for name, problems in stale.items()]
        super().__init__(
            "The decoded image cache is out of date with the raw images:\n"
            + "\n".join(lines)
            + f"\nRebuild it with `{command}` (restore or re-annotate any missing image first)."
        )


def _raw_data_advice(catalog: DataCatalog) -> str:
    """Where this environment's data set goes, as its raw labels dataset describes it."""
    try:
        labels = catalog.get("raw_train_labels")
    except Exception:  # noqa: BLE001 - a message helper must not hide the real error
        labels = None
    layout, readme = getattr(labels, "layout", ""), getattr(labels, "readme", "")
    where = f"put {layout} there" if layout else "put the data set's files there"
    section = f" (README, '{readme}')" if readme else ""
    return (
        f"The data set is not where data_root points: {where}, or pass "
        f"--params data_root=PATH{section}."
    )


def _where(name: str, catalog: DataCatalog) -> str:
    """The dataset's location, as the catalog describes it."""
    try:
        description = catalog.get(name)._describe()  # noqa: SLF001 - only for the message
    except Exception:  # noqa: BLE001 - a message helper must not hide the real error
        return "not in the catalog"
    return str(description.get("filepath") or description.get("path") or description)
