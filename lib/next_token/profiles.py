"""Each notebook's parameter profiles, keyed by notebook stem: ``quick`` (minutes on 2 cores) and ``paper``.

The quick profile of each notebook is written from shared bases (the public code's experiment E1: its dataset shapes
and its training protocol), and the paper profile as the quick one's differences (:data:`PAPER_CHANGES`). A notebook
resolves its ``parameters`` cell against them with ``PAPER.resolve(stem, globals())``; the runner reads them to check
a run before any kernel starts. A ``None`` in the parameters cell takes the profile's value; every value is checked by
the rules in :mod:`next_token.params`.
"""

# the public code's experiment E1: n = 6, T = 4, K = 6, d = 8, unit Gaussian embeddings, distinct tokens
E1_DATASET = {
    "num_samples": 6,
    "seq_len": 4,
    "vocab_size": 6,
    "embed_dim": 8,
    "data_class": "cyclic",
    "embeddings": "gaussian",
    "repeats": False,
    "dataset_file": "",
}
# the public code's E1 protocol: normalized GD at lr 0.01 for 4000 steps, ten datasets trained together
E1_TRAINING = {"optimizer": "normalized_gd", "learning_rate": 0.01, "steps": 4000, "num_datasets": 10}
# the code's larger cyclic setting (E3): n = 10, T = 6, K = 8, d = 8
E3_SIZES = {"num_samples": 10, "seq_len": 6, "vocab_size": 8}

QUICK = {
    # the structure notebooks take only the dataset
    "01_token_priority_graphs": E1_DATASET,
    "02_graph_svm": E1_DATASET,
    # the E1 setting and protocol; a long plain-GD run, the N11 plateau runs and the exact path beside the main run
    "03_gradient_descent": {
        **E1_DATASET,
        **E1_TRAINING,
        "gd_learning_rate": 1.0,
        "gd_steps": 20000,
        "plateau_rates": [0.01, 0.02, 0.05, 0.1],
        "smallest_mu": 1e-10,
    },
    "04_retrieval_and_composition": {**E1_DATASET, **E1_TRAINING, "new_contexts": 200, "sample_draws": 400},
    # general head: the public code's local-notebook protocol (normalized GD, lr 0.1, 2000 steps, CE and squared
    # loss); optimizer / learning_rate / steps: the factorised (K, Q) run and the W-parameterised run beside it
    "05_beyond_the_theorem": {
        **E1_DATASET,
        **E1_TRAINING,
        "ce_learning_rate": 0.1,
        "ce_steps": 2000,
        "path_datasets": 2,  # the (K, Q) regularization path is solved for the first datasets only (Newton)
        "nuclear_smallest_mu": 1e-6,
    },
    # about two minutes on one core: the corpus stages read every summary, training uses 4,000 windows
    "06_real_text": {
        "vocab_size": 32,
        "seq_len": 8,
        "embed_dim": 16,
        "num_windows": 4000,
        "heldout_fraction": 0.2,
        "optimizer": "gd",
        "learning_rate": 10.0,
        "steps": 4000,
    },
}
PAPER_CHANGES = {
    # E3's larger cyclic setting for the structure notebooks
    "01_token_priority_graphs": E3_SIZES,
    "02_graph_svm": E3_SIZES,
    # plain GD five times longer and the exact path two decades further
    "03_gradient_descent": {"gd_steps": 100000, "smallest_mu": 1e-12},
    "04_retrieval_and_composition": {"new_contexts": 1000, "sample_draws": 2000},
    # twice the budget, past the public code's (where float64 rounding takes over), and a longer (K, Q) path
    "05_beyond_the_theorem": {"steps": 8000, "ce_steps": 4000, "path_datasets": 3, "nuclear_smallest_mu": 1e-8},
    # the largest vocabulary of the paper's parameter range and a larger sample for the trained layer (the exact
    # Graph-SVM grows fastest with the sample); every summary for the corpus stages, as in quick
    "06_real_text": {"vocab_size": 64, "embed_dim": 32, "num_windows": 8000, "steps": 10000},
}

NOTEBOOK_PROFILES = {
    stem: {"quick": dict(quick), "paper": {**quick, **PAPER_CHANGES[stem]}} for stem, quick in QUICK.items()
}
