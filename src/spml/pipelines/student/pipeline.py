"""student: one student per threshold, each with the pseudo labels it learns from."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.common import bind
from spml.pipelines.design import StudyDesign
from spml.pipelines.pseudo_labeling.pipeline import pseudo_labels_for
from spml.pseudo import tau_slug

from .nodes import train_student


def student_for(tau: float, design: StudyDesign) -> Pipeline:
    """Train one student; its pseudo labels come along so `--params tau=X` works for any X."""
    slug = tau_slug(tau)
    training = node(
        bind(train_student, tau=tau),
        inputs={
            "pseudo_labels": f"pseudo_labels_{slug}",
            "pseudo_label_quality": f"pseudo_label_quality_{slug}",
            "student": "params:student",
            **design.training_inputs,
        },
        outputs=[f"student_model_{slug}", f"student_metrics_{slug}"],
        name="train_student",
        namespace=slug,
    )
    return pseudo_labels_for(tau) + Pipeline([training])


def create_pipeline(design: StudyDesign) -> Pipeline:
    """Every threshold of the study design, or the single `tau` given on the command line."""
    return sum((student_for(tau, design) for tau in design.taus), Pipeline([]))
