"""pseudo_labeling: one pseudo-label set and its quality per student variant (and seed)."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.common import bind
from spml.pipelines.design import StudyDesign, namespace, scope
from spml.variants import Variant

from .nodes import assess_pseudo_labels, make_pseudo_labels


def teacher_of(variant: Variant, seed: int | None, mirrored: bool = False) -> str:
    """The probabilities a variant's pseudo labels come from (on the mirror images when
    `mirrored`): the seed's teacher in round 1, the previous round's student afterwards."""
    suffix = "_mirrored" if mirrored else ""
    if variant.round == 1:
        return f"{scope(seed)}teacher_probabilities{suffix}"
    return f"{scope(seed, variant.round - 1)}student_probabilities{suffix}_{variant.slug}"


def pseudo_labels_for(variant: Variant, seed: int | None, design: StudyDesign) -> Pipeline:
    """The nodes of one variant, in its own namespace (e.g. tau_0_65, seed_1.round_2.soft_1)."""
    prefix, slug = scope(seed, variant.round), variant.slug
    return Pipeline(
        [
            node(
                bind(make_pseudo_labels, variant=variant, band_low=design.band_low),
                inputs={
                    "teacher_probabilities": teacher_of(variant, seed),
                    "observed_labels": "observed_labels",
                    **(
                        {"mirrored_probabilities": teacher_of(variant, seed, mirrored=True)}
                        if variant.mirror
                        else {}
                    ),
                },
                outputs=f"{prefix}pseudo_labels_{slug}",
                name="make_pseudo_labels",
                namespace=namespace(prefix, slug),
            ),
            node(
                bind(assess_pseudo_labels, variant=variant),
                inputs={
                    "pseudo_labels": f"{prefix}pseudo_labels_{slug}",
                    "full_labels": "full_labels",
                },
                outputs=f"{prefix}pseudo_label_quality_{slug}",
                name="assess_pseudo_labels",
                namespace=namespace(prefix, slug),
            ),
        ]
    )


def create_pipeline(design: StudyDesign) -> Pipeline:
    """Every round-1 variant of the study design (later rounds need a student: self_training)."""
    pairs = design.trained_students()
    return sum((pseudo_labels_for(variant, seed, design) for variant, seed in pairs), Pipeline([]))
