"""benchmarks/device_check.sh in its small CPU mode (issue 16 item 6): CI keeps the GPU check working."""

import os
import subprocess
from pathlib import Path

import pytest

from compute.models.registry import FNN_MODULES

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_small_cpu_mode_prints_one_table(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TMPDIR": str(tmp_path)}
    done = subprocess.run(["bash", "benchmarks/device_check.sh", "--small", "--views", "decoding", "tubularity"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "CUDA was not found: CPU only, small sizes" in out
    table = out[out.index("step  what"):].splitlines()[1:]
    modules = [row.split()[1:3] for row in table if "max rel diff" in row]
    assert [" ".join(m) if m[0] == "Enc" else m[0] for m in modules] == list(FNN_MODULES)
    assert all(row.endswith("max rel diff 0.00e+00") for row in table if "max rel diff" in row)  # cpu vs cpu
    assert any(row.startswith("(b)") and row.endswith("5 modules") for row in table)
    assert [row.split()[2] for row in table if row.startswith("(c)")] == ["decoding", "tubularity"]
    assert not [row for row in table if "FAILED" in row] and not list(tmp_path.iterdir())
