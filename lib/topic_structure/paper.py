"""The topic paper's entry in the collection (see :mod:`theory_collection.papers`)."""

from theory_collection.papers import Paper
from topic_structure.estimates import time_estimate
from topic_structure.params import NOTEBOOK_CHECKS, NOTEBOOK_CROSS_CHECKS, STANDARD_CHECKS, cross_check, memory_estimate
from topic_structure.profiles import NOTEBOOK_PROFILES

PAPER = Paper(
    name="topic_structure",
    title="How Do Transformers Learn Topic Structure: Towards a Mechanistic Understanding",
    citation="Yuchen Li, Yuanzhi Li, Andrej Risteski. ICML 2023 (arXiv 2303.04245)",
    url="https://arxiv.org/abs/2303.04245",
    checks=STANDARD_CHECKS,
    cross_check=cross_check,
    notebook_checks=NOTEBOOK_CHECKS,
    notebook_cross_checks=NOTEBOOK_CROSS_CHECKS,
    notebook_profiles=NOTEBOOK_PROFILES,
    memory_estimate=memory_estimate,
    time_estimate=time_estimate,
    order=1,
    headline_rows=("C1", "C2", "C3", "C4", "C5", "C6", "A1", "A2", "A3", "A4"),
    headline_rows_text={
        "C1": "embeddings encode topics (block Gram matrix)",
        "C2": "optimal W_V under uniform attention is block structured",
        "C3": "attention learns topic structure given W_V",
        "C4": "two stages: W_V first, then attention (the collection's formalisation)",
        "C5": "fully trained model on synthetic LDA shows the structure",
        "C6": "real data (Wikipedia) shows the structure (here a one-layer model trained from scratch, not the "
        "paper's pretrained BERT)",
        "A1": "topics nearly disjoint",
        "A2": "few topics per document",
        "A3": "documents long relative to tau v",
        "A4": "attention near uniform while W_V learns",
    },
    data_kinds=("theory", "synthetic", "wikipedia"),
)
