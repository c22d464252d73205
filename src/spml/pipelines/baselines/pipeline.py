"""baselines: the reference lines of figure 1a, one model per configured loss."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.common import bind
from spml.pipelines.design import StudyDesign

from .nodes import train_baseline


def create_pipeline(design: StudyDesign) -> Pipeline:
    """One training node per baseline in `baselines`."""
    return Pipeline(
        [
            node(
                bind(train_baseline, loss=loss),
                inputs={
                    "observed_labels": "observed_labels",
                    "baselines": "params:baselines",
                    **design.training_inputs,
                },
                outputs=[f"baseline_model_{loss}", f"baseline_metrics_{loss}"],
                name=f"train_{loss.upper()}",  # kedro-viz: "Train AN" in group "Baseline An"
                namespace=f"baseline_{loss}",
            )
            for loss in design.baselines
        ]
    )
