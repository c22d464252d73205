"""student: one student per threshold, each with the pseudo labels it learns from."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import current_design
from spml.pipelines.pseudo_labeling.pipeline import pseudo_labels_for
from spml.pseudo import tau_slug

from .nodes import student_trainer


def student_for(tau: float) -> Pipeline:
    """Train one student; its pseudo labels come along so `--params tau=X` works for any X."""
    slug = tau_slug(tau)
    training = node(
        student_trainer(tau),
        inputs=[
            f"pseudo_labels_{slug}",
            f"pseudo_label_quality_{slug}",
            "params:student",
            *current_design().training_inputs,
        ],
        outputs=[f"student_model_{slug}", f"student_metrics_{slug}"],
        name="train_student",
        namespace=slug,
    )
    return pseudo_labels_for(tau) + Pipeline([training])


def create_pipeline(**kwargs) -> Pipeline:
    """Every threshold of the study design, or the single `tau` given on the command line."""
    return sum((student_for(tau) for tau in current_design().taus), Pipeline([]))
