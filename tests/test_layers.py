"""Data flows one way, compute <- callbacks <- app (issue 12): each package imports on its own, and compute,
every module of it, pulls in no dash / plotly / flask and nothing of callbacks/ or app/."""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UPWARD = ("dash", "plotly", "flask", "callbacks", "app")

_SCRIPT = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [sys.argv[1]]
if sys.argv[2] == "all":
    names += [m.name for m in pkgutil.walk_packages(package.__path__, sys.argv[1] + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _top_level_modules(package: str, scope: str) -> set[str]:
    """Top-level names in sys.modules after a fresh interpreter imports ``package`` (``scope`` "all": and
    every module under it)."""
    done = subprocess.run([sys.executable, "-c", _SCRIPT, package, scope], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_compute_imports_nothing_upward():
    """Every module of compute (the CLI's included), imported in one fresh interpreter."""
    assert {m.name for m in pkgutil.iter_modules([str(REPO / "compute")])} >= {"cli", "workflows", "views"}
    assert _top_level_modules("compute", "all") & set(UPWARD) == set()


def test_compute_source_has_no_upward_import_even_a_lazy_one():
    """v1's ``python -m compute report`` imported ``app.report`` inside its ``main``, which an import of every
    module cannot see: the source text of compute/ is scanned for ``from X`` / ``import X`` of UPWARD."""
    statement = re.compile(rf"^\s*(?:from|import)\s+(?:{'|'.join(UPWARD)})\b", re.MULTILINE)
    found = [f"{path.relative_to(REPO)}: {match.group().strip()}" for path in sorted((REPO / "compute").rglob("*.py"))
             for match in statement.finditer(path.read_text())]
    assert found == []
    assert statement.search("    from app.report import render_report") and not statement.search("import appdirs")


@pytest.mark.parametrize("package", ["callbacks", "app"])
def test_each_package_imports_on_its_own(package):
    loaded = _top_level_modules(package, "package")
    assert package in loaded and "compute" in loaded


def test_view_builders_import_no_loader():
    """The view builders are plain functions of arrays and options (issue 12 item 2): compute/views.py imports
    neither compute.workflows nor compute.sources, not even inside a function (v1 imported Source lazily to
    load alignment's biological dataset, a views <-> workflows circle)."""
    tree = ast.parse((REPO / "compute" / "views.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {"compute.workflows", "compute.sources"} & imported == set()
    done = subprocess.run([sys.executable, "-c", "import compute.views, sys; print(sorted(sys.modules))"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.replace("'", '"')))
    assert {"compute.workflows", "compute.sources"} & loaded == set()


def test_callbacks_import_no_page_module():
    """Callbacks read what they share with a page's layout from app/ids.py or app/requests.py, never from a page
    module (issue 12 item 4; v1 imported app.pages.<page> for build_request and model_only_style)."""
    offenders = []
    for path in sorted((REPO / "callbacks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                     if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("app.pages")]
    assert offenders == []
