"""Small facts the tests compare against, kept in the repository so that most tests need no download.

| file | what | provenance |
|---|---|---|
| fnn_state_dict.json | key, shape, dtype of every entry of the public FNN checkpoint (units = 9941) | its ``about`` field |
| cell_to_factor_row.json | factor row of each cell-info entry, retina and V1 | derived by the project from the published factors and cell info (row response sizes aligned with significance flags; see the bio data README), copied unchanged |
| reference_stimuli.json | statistics of the authors' reference stimulus images per class | its ``about`` field; re-measured by test_stimuli.TestReferenceFacts |
"""

from __future__ import annotations

import json
from pathlib import Path

FACTS_DIR = Path(__file__).resolve().parent


def load_fact(name: str) -> dict:
    """The parsed JSON file ``name`` of this folder."""
    return json.loads((FACTS_DIR / name).read_text())
