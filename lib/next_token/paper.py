"""The next-token paper's entry in the collection (see :mod:`theory_collection.papers`)."""

from next_token.bounds import memory_estimate, time_estimate
from next_token.params import NOTEBOOK_CHECKS, NOTEBOOK_CROSS_CHECKS, STANDARD_CHECKS, cross_check
from next_token.profiles import NOTEBOOK_PROFILES
from theory_collection.papers import Paper

PAPER = Paper(
    name="next_token",
    title="Mechanics of Next Token Prediction with Self-Attention",
    citation="Yingcong Li, Yixiao Huang, M. Emrullah Ildiz, Ankit Singh Rawat, Samet Oymak. AISTATS 2024 "
    "(PMLR 238:685-693, arXiv 2403.08081)",
    url="https://arxiv.org/abs/2403.08081",
    checks=STANDARD_CHECKS,
    cross_check=cross_check,
    notebook_checks=NOTEBOOK_CHECKS,
    notebook_cross_checks=NOTEBOOK_CROSS_CHECKS,
    notebook_profiles=NOTEBOOK_PROFILES,
    memory_estimate=memory_estimate,
    time_estimate=time_estimate,
    file_parameters=("dataset_file",),
    order=2,
    headline_rows=("N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9", "N10", "N11", "NA"),
    headline_rows_text={
        "N1": "the label tops its own sequence in its TPG",
        "N2": "the log-loss is convex in W",
        "N3": "the Graph-SVM is feasible, unique and orthogonal to S_fin",
        "N4": "gradient descent converges in direction to W^svm",
        "N5": "the projection on S_fin converges to the finite component W^fin",
        "N6": "hard retrieval: attention concentrates on the label's SCC",
        "N7": "soft composition: inside the SCC attention follows W^fin, loss tends to L*",
        "N8": "on new contexts the layer acts as the priority automaton",
        "N9": "W is the superposition of a growing W^svm part and W^fin",
        "N10": "beyond the theorem: general head and factorised attention",
        "N11": "normalized GD with a fixed step stalls near eta/2",
        "NA": "assumptions: realizable labels, independent embeddings",
    },
    data_kinds=("theory", "synthetic", "wikipedia"),
)
