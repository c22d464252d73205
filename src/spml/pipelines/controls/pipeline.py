"""controls: the teacher and baselines of `compute_controls`, trained as long as the longest
student chain, so every student is compared at equal compute (none by default)."""

from kedro.pipeline import Node, Pipeline, node

from spml.pipelines.baselines.nodes import train_baseline
from spml.pipelines.common import bind
from spml.pipelines.design import StudyDesign, namespace, scope
from spml.pipelines.teacher.nodes import train_teacher


def control_for(name: str, seed: int | None, design: StudyDesign) -> Node:
    """One model of `compute_controls` (`teacher` or a baseline loss) for one seed."""
    prefix, epochs = scope(seed), design.control_epochs
    if name == "teacher":
        function, own = bind(train_teacher, seed=seed, epochs=epochs), {"teacher": "params:teacher"}
    else:
        function = bind(train_baseline, loss=name, seed=seed, epochs=epochs)
        own = {"baselines": "params:baselines"}
    return node(
        function,
        inputs={"observed_labels": "observed_labels", **own, **design.training_inputs},
        outputs=[f"{prefix}control_model_{name}", f"{prefix}control_metrics_{name}"],
        name=f"train_{name}_{epochs}_epochs",
        namespace=namespace(prefix, f"control_{name}"),
    )


def create_pipeline(design: StudyDesign) -> Pipeline:
    """Every equal-compute control of the study design, for every training seed."""
    return Pipeline(
        [control_for(name, seed, design) for seed in design.seed_scopes for name in design.controls]
    )
