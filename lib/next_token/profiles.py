"""Each notebook's parameter profiles, keyed by notebook stem: ``quick`` (minutes on 2 cores) and ``paper``.

A notebook resolves its ``parameters`` cell against these with ``PAPER.resolve(stem, globals())``;
the runner reads them to check a run before any kernel starts. A ``None`` in the parameters cell
takes the profile's value; every value is checked by the rules in :mod:`next_token.params`.
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
# the code's larger cyclic setting (E3): n = 10, T = 6, K = 8, d = 8
E3_DATASET = {**E1_DATASET, "num_samples": 10, "seq_len": 6, "vocab_size": 8}
# the public code's E1 protocol: normalized GD at lr 0.01 for 4000 steps, ten datasets trained together
E1_TRAINING = {"optimizer": "normalized_gd", "learning_rate": 0.01, "steps": 4000, "num_datasets": 10}

NOTEBOOK_PROFILES = {
    # the structure notebooks take only the dataset: E1 quick, E3 for the paper profile
    "01_token_priority_graphs": {"quick": dict(E1_DATASET), "paper": dict(E3_DATASET)},
    "02_graph_svm": {"quick": dict(E1_DATASET), "paper": dict(E3_DATASET)},
    # the public code's E1 setting and protocol (normalized GD, lr 0.01, 4000 steps), ten datasets trained together;
    # the paper profile runs plain GD five times longer and the exact path two decades further
    "03_gradient_descent": {
        "quick": {
            **E1_DATASET,
            **E1_TRAINING,
            "gd_learning_rate": 1.0,
            "gd_steps": 20000,
            "plateau_rates": [0.01, 0.02, 0.05, 0.1],
            "smallest_mu": 1e-10,
        },
        "paper": {
            **E1_DATASET,
            **E1_TRAINING,
            "gd_learning_rate": 1.0,
            "gd_steps": 100000,
            "plateau_rates": [0.01, 0.02, 0.05, 0.1],
            "smallest_mu": 1e-12,
        },
    },
    "04_retrieval_and_composition": {
        "quick": {**E1_DATASET, **E1_TRAINING, "new_contexts": 200, "sample_draws": 400},
        "paper": {**E1_DATASET, **E1_TRAINING, "new_contexts": 1000, "sample_draws": 2000},
    },
    # general head: the public code's local-notebook protocol (normalized GD, lr 0.1, 2000 steps, CE and squared
    # loss); optimizer / learning_rate / steps: the factorised (K, Q) run and the W-parameterised run beside it
    "05_beyond_the_theorem": {
        "quick": {
            **E1_DATASET,
            **E1_TRAINING,
            "ce_learning_rate": 0.1,
            "ce_steps": 2000,
            "path_datasets": 2,  # the (K, Q) regularization path is solved for the first datasets only (Newton)
            "nuclear_smallest_mu": 1e-6,
        },
        "paper": {
            **E1_DATASET,
            **E1_TRAINING,
            "steps": 8000,
            "ce_learning_rate": 0.1,
            "ce_steps": 4000,
            "path_datasets": 3,
            "nuclear_smallest_mu": 1e-8,
        },
    },
    "06_real_text": {
        # about two minutes on one core: the corpus stages read every summary, training uses 4,000 windows
        "quick": {
            "vocab_size": 32,
            "seq_len": 8,
            "embed_dim": 16,
            "num_windows": 4000,
            "heldout_fraction": 0.2,
            "optimizer": "gd",
            "learning_rate": 10.0,
            "steps": 4000,
        },
        # every summary for the corpus stages (as in quick); the largest vocabulary of the paper's parameter range
        # and a larger sample for the trained layer (the exact Graph-SVM grows fastest with the sample)
        "paper": {
            "vocab_size": 64,
            "seq_len": 8,
            "embed_dim": 32,
            "num_windows": 8000,
            "heldout_fraction": 0.2,
            "optimizer": "gd",
            "learning_rate": 10.0,
            "steps": 10000,
        },
    },
}
