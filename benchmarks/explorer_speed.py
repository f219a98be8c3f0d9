"""How long the explorers take to answer a change of a control: CPU seconds per change, against the one second the
reading guide promises (a change is answered from exact or cached routes, never by training).

    python benchmarks/explorer_speed.py [--repeats 3]

Each explorer is built at the default of its notebook's quick profile and every control is moved in turn, as a
reader would in JupyterLab (the live widgets, so ``THEORY_COLLECTION_HEADLESS`` must not be set). CPU time, so
that other jobs on the machine count less; the best of ``--repeats`` fresh explorers is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

import matplotlib

matplotlib.use("Agg")

from next_token import explore as next_explore  # noqa: E402
from theory_collection.explore import HEADLESS  # noqa: E402
from topic_structure import explore as topic_explore  # noqa: E402

TARGET_SECONDS = 1.0
PHASE = topic_explore.TopicSetting(num_topics=5, words_per_topic=4, topics_per_doc=2, weight_decay=3e-4)
ONSET = topic_explore.OnsetSetting(num_topics=5, words_per_topic=4, topics_per_doc=2, weight_decay=0.0, excess=0.05)
EXPLORERS = {  # name: (build, [(control, value), ...])
    "topic 04 phase diagram": (
        lambda: topic_explore.phase_explorer(PHASE, 0.1, 0.1),
        [("keep_prob", 0.2), ("random_prob", 0.3)],
    ),
    "topic 05 onset": (
        lambda: topic_explore.onset_explorer(ONSET, 0.01, 0.1, 10.0),
        [("init_scale", 0.001), ("keep_prob", 0.2), ("learning_rate", 20.0)],
    ),
    "next-token 02 structure": (
        lambda: next_explore.structure_explorer(6, 4, 6, 0, "cyclic"),
        [("seed", 1), ("data_class", "acyclic"), ("num_samples", 8), ("vocab_size", 7)],
    ),
}


def cpu_seconds_per_change(build, changes) -> dict[str, float]:
    """CPU seconds for each control's change on a fresh explorer (what the widget displays outside a kernel, an
    HTML object's repr on the terminal, is swallowed)."""
    with contextlib.redirect_stdout(io.StringIO()):
        shown, seconds = build(), {}
        for name, value in changes:
            start = time.process_time()
            shown.controls[name].value = value
            seconds[name] = time.process_time() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if os.environ.get(HEADLESS, "") not in ("", "0"):
        raise SystemExit(f"unset {HEADLESS}: this measures the live explorers")
    print(f"{'explorer':26s} {'control':14s} {'CPU s per change':>17s}  (target < {TARGET_SECONDS:g} s)")
    for label, (build, changes) in EXPLORERS.items():
        runs = [cpu_seconds_per_change(build, changes) for _ in range(args.repeats)]
        for name, _ in changes:
            best = min(run[name] for run in runs)
            mark = "ok" if best < TARGET_SECONDS else "SLOW"
            print(f"{label:26s} {name:14s} {best:17.3f}  {mark}")


if __name__ == "__main__":
    main()
