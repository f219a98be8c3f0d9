"""``python -m topic_structure.claims``: rewrite the provenance table of notebooks/topic_structure/THEORY.md."""

from topic_structure.claims import write_provenance_table
from topic_structure.paper import PAPER

if __name__ == "__main__":
    changed = write_provenance_table(PAPER.theory_notes)
    print(f"{PAPER.theory_notes}: {'rewritten' if changed else 'already in step'}")
