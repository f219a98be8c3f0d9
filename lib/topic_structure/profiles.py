"""Each notebook's parameter profiles, keyed by notebook stem: ``quick`` (minutes on 2 cores) and ``paper``.

A notebook resolves its ``parameters`` cell against these with ``PAPER.resolve(stem, globals())``;
the runner reads them to check a run before any kernel starts. A ``None`` in the parameters cell
takes the profile's value; every value is checked by the rules in :mod:`topic_structure.params`.

The profiles are written as differences: the settings several notebooks share are named once below, each
notebook's quick profile adds its own values to them, and its paper profile is the quick one with what the
paper scale changes (:func:`scaled_up`).
"""

# The public code's data and masking (its configuration file and data-generation notebook): T = 10 topics of
# v = 10 words, LDA with alpha = 0.1, documents of 100-150 words; BERT masking 0.15 / 0.1 / 0.1.
CODE_DATA = {"num_topics": 10, "words_per_topic": 10, "alpha": 0.1, "doc_length": [100, 150]}
MASKING = {"mask_prob": 0.15, "keep_prob": 0.1, "random_prob": 0.1}
# The public code's optimiser: Adam at learning rate 0.01, batches of 40 documents
CODE_ADAM = {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 40}
# The analysable equal-mixture setting: small for the quick profile, the paper's vocabulary (tau = 3) for the paper's
SMALL_TOPICS = {"num_topics": 5, "words_per_topic": 4, "topics_per_doc": 2}
PAPER_TOPICS = {"num_topics": 10, "words_per_topic": 10, "topics_per_doc": 3}

# Notebooks 02 and 03: one part trained at uniform attention on long equal-mixture documents
UNIFORM_RUNS = {
    **SMALL_TOPICS,
    "doc_length": 1000,
    **MASKING,
    "weight_decay": 0.01,
    "optimizer": "adam",
    "steps": 600,
    "batch_size": 32,
}
UNIFORM_RUNS_PAPER = {**PAPER_TOPICS, "doc_length": 2000, "weight_decay": 0.001, "steps": 3000}

# Notebooks 06 and 07: the Wikipedia summaries and their LDA fit (the same fit in both: same articles, topics,
# passes and seed, so the second notebook reads it from the cache)
WIKIPEDIA = {"num_articles": 3000, "num_lda_topics": 20, "lda_passes": 30, "min_topic_share": 0.6}
WIKIPEDIA_PAPER = {"num_articles": "all", "num_lda_topics": 100, "lda_passes": 50}

# Notebooks 08 and 09: everything trained on LDA documents with the public code's masking and optimiser, three seeds
LDA_TRAINING = {
    "alpha": 0.1,
    **MASKING,
    "weight_decay": 0.0,
    "init_scale": 1.0,
    **CODE_ADAM,
    "num_seeds": 3,
}
# one change at a time around the base configuration; (optimizer, learning_rate) move together because each
# optimiser has its own learning-rate scale
ROBUSTNESS_GRID = [
    {},
    {"optimizer": "sgd", "learning_rate": 1.0},
    {"optimizer": "sgd", "learning_rate": 0.1},
    {"optimizer": "adamw", "learning_rate": 0.01, "weight_decay": 0.1},
    {"learning_rate": 0.001},
    {"init_scale": 0.1},
    {"init_scale": 3.0},
    {"keep_prob": 0.0},
    {"keep_prob": 0.3},
    {"random_prob": 0.3},
    {"alpha": 1.0},
    {"num_topics": 8, "words_per_topic": 4},
]

# Notebook 09's sweep (§4): one change at a time from its base configuration (optimiser and weight decay move
# together), each point a claim C5.condition.<point>; "decoder" is the one name here that is not a parameter.
TOPIC_ATTENTION_SWEEP = {
    "base": {},
    "AdamW, decay 0.1": {"optimizer": "adamw", "weight_decay": 0.1},
    "Adam lr 0.003": {"learning_rate": 0.003},
    "Adam, L2 decay 1e-3": {"weight_decay": 0.001},
    "random_prob 0.5": {"random_prob": 0.5},
    "keep_prob 0.3": {"keep_prob": 0.3},
    "20-30 words": {"doc_length": [20, 30]},
    "5 words per topic": {"words_per_topic": 5},
    "untied decoder": {"decoder": "trained"},
}


# notebook 09's population optima at the paper profile: the weight decays
PAPER_DECAYS = [0.01, 0.001, 0.0003, 0.0001]


def scaled_up(quick: dict, changes: dict) -> dict[str, dict]:
    """A notebook's two profiles: ``quick``, and ``paper`` = ``quick`` with ``changes``."""
    return {"quick": quick, "paper": {**quick, **changes}}


NOTEBOOK_PROFILES = {
    # the paper profile: the public code's T = 10, v = 10 and 10,000 documents
    "01_topic_model_and_masking": scaled_up(
        {**SMALL_TOPICS, "alpha": 0.1, "doc_length": [100, 150], **MASKING, "num_docs": 2000},
        {**PAPER_TOPICS, "num_docs": 10000},
    ),
    "02_embeddings": scaled_up({**UNIFORM_RUNS, "init_scale": 0.1, "learning_rate": 0.05}, UNIFORM_RUNS_PAPER),
    # the public code's stage-1 run: 2,000 documents at the quick profile, its 10,000 at the paper profile
    "03_value_matrix": scaled_up(
        {**UNIFORM_RUNS, "init_scale": 0.01, "learning_rate": 0.01, "code_docs": 2000, "code_epochs": 20},
        {**UNIFORM_RUNS_PAPER, "code_docs": 10000},
    ),
    "04_attention": scaled_up(
        {
            **SMALL_TOPICS,
            "doc_length": [50, 75],
            **MASKING,
            "weight_decay": 0.0003,
            "init_scale": 0.01,
            "optimizer": "adam",
            "learning_rate": 0.01,
            "steps": 300,
            "batch_size": 80,
        },
        {**PAPER_TOPICS, "doc_length": [100, 150], "weight_decay": 3e-05, "steps": 1000, "batch_size": 40},
    ),
    # the paper profile: the paper's vocabulary (T = 10, v = 10), three topics per document, its document lengths
    "05_two_stage_dynamics": scaled_up(
        {
            **SMALL_TOPICS,
            "alpha": 0.1,
            "doc_length": [50, 75],
            **MASKING,
            "weight_decay": 0.0,
            "init_scale": 0.01,
            "learning_rate": 10.0,
            "steps": 2000,
            "init_scales": [0.0001, 0.001, 0.01, 0.03],
            "keep_probs": [0.05, 0.1, 0.2, 0.4],
            "learning_rates": [10.0, 20.0, 40.0],
            "onset_excess": 0.05,
            "batch_size": 40,
            "adam_learning_rate": 0.01,
            "adam_steps": 250,
            "value_seeds": 4,
        },
        {
            **PAPER_TOPICS,
            "doc_length": [100, 150],
            "learning_rate": 50.0,
            "steps": 3000,
            "learning_rates": [50.0, 100.0, 200.0],
            "adam_steps": 1500,
        },
    ),
    # a few minutes on 2 CPU cores, including the Wikipedia LDA fit (cached, shared with notebook 07); the paper
    # profile: every article, 100 topics, 10,000 synthetic documents
    "06_assumptions_on_data": scaled_up(
        {
            **CODE_DATA,
            **MASKING,
            "init_scale": 0.01,
            "optimizer": "sgd",
            "learning_rate": 30.0,
            "steps": 300,
            "adam_learning_rate": 0.01,
            "adam_steps": 150,
            "num_docs": 2000,
            **WIKIPEDIA,
            "wiki_words_per_topic": 10,
            "batch_size": 20,
        },
        {"steps": 1500, "adam_steps": 600, "num_docs": 10000, **WIKIPEDIA_PAPER},
    ),
    # a few minutes on 2 CPU cores; the paper profile: every article and 100 topics
    "07_wikipedia": scaled_up(
        {
            "words_per_topic": 20,
            **MASKING,
            "weight_decay": 0.0,
            "init_scale": 0.1,
            "optimizer": "adam",
            "learning_rate": 0.01,
            "steps": 1500,
            **WIKIPEDIA,
            "num_pretrained_docs": 160,
            "max_tokens": 128,
            "d_model": 64,
            "batch_size": 64,
            "num_bootstrap": 1000,
            "num_permutations": 50,
        },
        {
            "words_per_topic": 10,
            "steps": 6000,
            **WIKIPEDIA_PAPER,
            "num_pretrained_docs": 1000,
            "max_tokens": 256,
            "d_model": 128,
            "num_permutations": 100,
        },
    ),
    # small vocabulary and short documents at the quick profile; the paper profile: the public code's T = 10, v = 10,
    # 10,000 documents of 100-150 words, batch 40, Adam lr 0.01, 20 epochs = 5,000 steps
    "08_synthetic_lda": scaled_up(
        {
            **LDA_TRAINING,
            "grid": ROBUSTNESS_GRID,
            "num_topics": 5,
            "words_per_topic": 5,
            "doc_length": [40, 60],
            "num_docs": 2000,
            "steps": 400,
            "log_every": 2,
            "grid_steps": 400,
        },
        {**CODE_DATA, "num_docs": 10000, "steps": 5000, "grid_steps": 1500},
    ),
    # the paper's data setting and optimiser on a smaller corpus for 1,000 steps; the paper profile: the public
    # code's 10,000 documents, 20 epochs of batch 40 = 5,000 steps
    "09_topic_attention_over_training": scaled_up(
        {
            **CODE_DATA,
            **LDA_TRAINING,
            "num_docs": 2000,
            "steps": 1000,
            "log_every": 20,
            "sweep_steps": 600,
            "decays": [0.001, 0.0003],
        },
        {"num_docs": 10000, "steps": 5000, "log_every": 25, "sweep_steps": 3000, "decays": PAPER_DECAYS},
    ),
}
