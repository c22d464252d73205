"""baselines: the reference lines of figure 1a, one model per configured loss."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import current_design

from .nodes import baseline_trainer


def create_pipeline(**kwargs) -> Pipeline:
    """One training node per baseline in `baselines`."""
    design = current_design()
    return Pipeline(
        [
            node(
                baseline_trainer(loss),
                inputs=["observed_labels", "params:baselines", *design.training_inputs],
                outputs=[f"baseline_model_{loss}", f"baseline_metrics_{loss}"],
                name=f"train_baseline_{loss}",
                namespace=f"baseline_{loss}",
            )
            for loss in design.baselines
        ]
    )
