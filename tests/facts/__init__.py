"""Small facts the tests compare against, kept in the repository so that most tests need no download.

| file | what | provenance |
|---|---|---|
| fnn_state_dict.json | key, shape, dtype of every entry of the public FNN checkpoint (units = 9941) | its ``about`` field |
| reference_stimuli.json | statistics of the authors' reference stimulus images per class | its ``about`` field; re-measured by test_stimuli.TestReferenceFacts |
"""

from __future__ import annotations

import json
from pathlib import Path

FACTS_DIR = Path(__file__).resolve().parent


def load_fact(name: str) -> dict:
    """The parsed JSON file ``name`` of this folder."""
    return json.loads((FACTS_DIR / name).read_text())
