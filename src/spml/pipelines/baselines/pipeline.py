"""baselines: the reference lines of figure 1a, one model per configured loss (and seed)."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.common import bind
from spml.pipelines.design import StudyDesign, namespace, scope

from .nodes import train_baseline


def create_pipeline(design: StudyDesign) -> Pipeline:
    """One training node per baseline in `baselines`, for every training seed of the study."""
    return Pipeline(
        [
            node(
                bind(train_baseline, loss=loss, seed=seed),
                inputs={
                    "observed_labels": "observed_labels",
                    "baselines": "params:baselines",
                    **design.training_inputs,
                },
                outputs=[
                    f"{scope(seed)}baseline_model_{loss}",
                    f"{scope(seed)}baseline_metrics_{loss}",
                ],
                name=f"train_{loss.upper()}",  # kedro-viz: "Train AN" in group "Baseline An"
                namespace=namespace(scope(seed), f"baseline_{loss}"),
            )
            for seed in design.seed_scopes
            for loss in design.baselines
        ]
    )
