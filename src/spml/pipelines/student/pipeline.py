"""student: one student per variant (and seed), each with the pseudo labels it learns from."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.common import bind
from spml.pipelines.design import StudyDesign, namespace, scope
from spml.pipelines.pseudo_labeling.pipeline import pseudo_labels_for
from spml.variants import Variant

from .nodes import train_student


def student_for(variant: Variant, seed: int | None, design: StudyDesign) -> Pipeline:
    """Train one student; its pseudo labels come along so `--params tau=X` works for any X."""
    prefix, slug = scope(seed, variant.round), variant.slug
    training = node(
        bind(train_student, variant=variant, seed=seed),
        inputs={
            "pseudo_labels": f"{prefix}pseudo_labels_{slug}",
            "pseudo_label_quality": f"{prefix}pseudo_label_quality_{slug}",
            "student": "params:student",
            **design.training_inputs,
        },
        outputs=[f"{prefix}student_model_{slug}", f"{prefix}student_metrics_{slug}"],
        name="train_student",
        namespace=namespace(prefix, slug),
    )
    return pseudo_labels_for(variant, seed, design) + Pipeline([training])


def create_pipeline(design: StudyDesign) -> Pipeline:
    """Every round-1 student of the study design, or the single `tau` given on the command
    line (later rounds: the self_training pipeline)."""
    pairs = design.trained_students()
    return sum((student_for(variant, seed, design) for variant, seed in pairs), Pipeline([]))
