"""Session hooks: shape the pipelines from parameters, make the demo data, check inputs early."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

log = logging.getLogger(__name__)

RAW_INPUTS = (
    "coco_train_instances",
    "coco_test_instances",
    "coco_train_images",
    "coco_test_images",
)


class StudyDesignHooks:
    """Check parameters and tracking first, then build the pipelines for this session's design."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow contacts the tracking server
    def after_context_created(self, context: Any) -> None:
        from spml import tracking
        from spml.pipeline_registry import register_study
        from spml.pipelines.design import check_parameters, design_from_parameters

        params = context.params
        check_parameters(params)
        register_study(design_from_parameters(params))
        tracking.check_reachable(
            str(context.config_loader["mlflow"]["server"]["mlflow_tracking_uri"])
        )

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
    """Before any node runs: generate the demo if it is due, then insist every input exists."""

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._params = dict(context.params)

    @hook_impl
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
            raise MissingInputsError(missing, catalog)

    def _generate_demo_if_due(self) -> None:
        """The demo is made on first use, only at its own root, never over a user's data."""
        demo = self._params.get("demo") or {}
        data_root = self._params.get("data_root")
        if (
            not demo.get("generate")
            or Path(str(data_root)).resolve() != Path(str(demo["root"])).resolve()
        ):
            return
        from spml.demo import ensure_demo_coco

        options = {
            key: demo[key] for key in ("seed", "n_train", "n_test", "image_size") if key in demo
        }
        ensure_demo_coco(demo["root"], **options)


class MissingInputsError(RuntimeError):
    """Names each missing dataset and where it would come from, before any training starts."""

    def __init__(self, missing: list[str], catalog: DataCatalog) -> None:
        lines = [f"  - {name}: {_where(name, catalog)}" for name in missing]
        advice = []
        if set(missing) & set(RAW_INPUTS):  # no pipeline makes these: the user provides them
            advice.append(
                "The data set is not where data_root points: put annotations/, train2014/ and "
                "val2014/ there, or pass --params data_root=PATH (README, 'Real MS-COCO 2014')."
            )
        if set(missing) - set(RAW_INPUTS):
            advice.append(
                "Run the pipelines that produce them first (e.g. `kedro run` for the whole "
                "study, or `kedro run --pipeline teacher`)."
            )
        super().__init__(
            "These inputs of the requested pipeline do not exist yet:\n" + "\n".join(lines + advice)
        )


def _where(name: str, catalog: DataCatalog) -> str:
    """The dataset's location, as the catalog describes it."""
    try:
        description = catalog.get(name)._describe()  # noqa: SLF001 - only for the message
    except Exception:  # noqa: BLE001 - a message helper must not hide the real error
        return "not in the catalog"
    return str(description.get("filepath") or description.get("path") or description)
