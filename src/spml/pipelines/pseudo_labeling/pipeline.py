"""pseudo_labeling: one pseudo-label set and its quality per threshold."""

from functools import cache

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import current_design
from spml.pseudo import tau_slug

from .nodes import pseudo_label_assessor, pseudo_labeler


@cache
def pseudo_labels_for(tau: float) -> Pipeline:
    """The nodes of one threshold, in its own namespace (e.g. tau_0_65), built once per tau."""
    slug = tau_slug(tau)
    return Pipeline(
        [
            node(
                pseudo_labeler(tau),
                inputs="teacher_probabilities",
                outputs=f"pseudo_labels_{slug}",
                name="make_pseudo_labels",
                namespace=slug,
            ),
            node(
                pseudo_label_assessor(tau),
                inputs=[f"pseudo_labels_{slug}", "full_labels"],
                outputs=f"pseudo_label_quality_{slug}",
                name="assess_pseudo_labels",
                namespace=slug,
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Every threshold of the study design."""
    return sum((pseudo_labels_for(tau) for tau in current_design().taus), Pipeline([]))
