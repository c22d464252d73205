"""pseudo_labeling: one pseudo-label set and its quality per threshold."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.common import bind
from spml.pipelines.design import StudyDesign
from spml.pseudo import tau_slug

from .nodes import assess_pseudo_labels, make_pseudo_labels


def pseudo_labels_for(tau: float) -> Pipeline:
    """The nodes of one threshold, in its own namespace (e.g. tau_0_65)."""
    slug = tau_slug(tau)
    return Pipeline(
        [
            node(
                bind(make_pseudo_labels, tau=tau),
                inputs={"teacher_probabilities": "teacher_probabilities"},
                outputs=f"pseudo_labels_{slug}",
                name="make_pseudo_labels",
                namespace=slug,
            ),
            node(
                bind(assess_pseudo_labels, tau=tau),
                inputs={"pseudo_labels": f"pseudo_labels_{slug}", "full_labels": "full_labels"},
                outputs=f"pseudo_label_quality_{slug}",
                name="assess_pseudo_labels",
                namespace=slug,
            ),
        ]
    )


def create_pipeline(design: StudyDesign) -> Pipeline:
    """Every threshold of the study design."""
    return sum((pseudo_labels_for(tau) for tau in design.taus), Pipeline([]))
