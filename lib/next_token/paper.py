"""The next-token paper's entry in the collection (see :mod:`theory_collection.papers`)."""

from theory_collection.papers import Paper

from next_token.params import STANDARD_CHECKS, cross_check

PAPER = Paper(
    name="next_token",
    title="Mechanics of Next Token Prediction with Self-Attention",
    citation="Yingcong Li, Yixiao Huang, M. Emrullah Ildiz, Ankit Singh Rawat, Samet Oymak. AISTATS 2024 "
             "(PMLR 238:685-693, arXiv 2403.08081)",
    url="https://arxiv.org/abs/2403.08081",
    checks=STANDARD_CHECKS,
    cross_check=cross_check,
    order=2,
    headline_rows=("N1", "N2", "N3", "N5", "N7"),
    headline_rows_text={
        "N1": "the label tops its own sequence in its TPG",
        "N2": "the log-loss is convex in W",
        "N3": "the Graph-SVM is feasible, unique and orthogonal to S_fin",
        "N5": "the finite component W^fin is well defined",
        "N7": "L* = L_fin(W^fin) is the infimum of the loss",
    },
    data_kinds=("synthetic",),
)
