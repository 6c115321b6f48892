"""The layout is the design: layers import only downward, modules stay small, the vocabulary is defined once.

The import contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are checked with import-linter;
each check here is also run against a deliberately broken copy of the package that it must reject.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bayesxp
from bayesxp import quantities

PACKAGE = Path(bayesxp.__file__).resolve().parent
REPO = PACKAGE.parent
MAX_LINES = 800


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _lint_imports(root: Path, config: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` over the package found on ``root`` (a fresh process, so the copy is what is read)."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())", str(config), "--no-cache"],
        cwd=root, capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )


def _oversized(root: Path) -> list[str]:
    return [f"{p.relative_to(root)}: {n} lines" for p in _modules(root)
            if (n := len(p.read_text().splitlines())) > MAX_LINES]


def _vocabulary_redefinitions(root: Path) -> list[str]:
    """Module-level assignments, outside ``quantities.py``, to a name the vocabulary defines."""
    names = set(quantities.__all__)
    found = []
    for path in _modules(root):
        if path.name == "quantities.py" and path.parent == root:
            continue
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {target.id}")
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in names:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return found


@pytest.fixture(scope="module")
def broken_copy(tmp_path_factory):
    """A copy of the package with one upward import, one oversized module and one vocabulary copy."""
    root = tmp_path_factory.mktemp("broken")
    shutil.copytree(PACKAGE, root / "bayesxp", ignore=shutil.ignore_patterns("__pycache__", "resources"))
    tables = root / "bayesxp" / "io" / "tables.py"
    tables.write_text(tables.read_text() + "\nfrom bayesxp.evaluation import run_campaign  # noqa\n")
    (root / "bayesxp" / "io" / "huge.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (root / "bayesxp" / "data" / "units_copy.py").write_text('QUANTITIES = ("mass", "age")\n')
    return root


def test_imports_follow_the_layers():
    result = _lint_imports(REPO, REPO / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_the_layer_check_rejects_an_upward_import(broken_copy):
    result = _lint_imports(broken_copy, REPO / "pyproject.toml")
    assert result.returncode != 0
    assert "bayesxp.io is not allowed to import bayesxp.evaluation" in result.stdout


def test_no_module_is_over_800_lines(broken_copy):
    assert _oversized(PACKAGE) == []
    assert _oversized(broken_copy / "bayesxp") == ["io/huge.py: 801 lines"]


def test_the_vocabulary_is_defined_once(broken_copy):
    assert _vocabulary_redefinitions(PACKAGE) == []
    assert _vocabulary_redefinitions(broken_copy / "bayesxp") == ["data/units_copy.py:1 QUANTITIES"]


def _unit_spellings(root: Path) -> list[str]:
    """String constants (docstrings aside) outside ``quantities.py`` that spell the mass unit themselves."""
    found = []
    for path in _modules(root):
        if path.name == "quantities.py" and path.parent == root:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and ("Msun" in node.value or "solMass" in node.value)):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_one_unit_spelling(broken_copy):
    """Units are written through :func:`bayesxp.quantities.unit_name`; no module spells the mass unit itself."""
    assert _unit_spellings(PACKAGE) == []
    (broken_copy / "bayesxp" / "data" / "label.py").write_text('"""Mass [Msun] in a docstring is prose."""\nLABEL = "mass [Msun]"\n')
    assert _unit_spellings(broken_copy / "bayesxp") == ["data/label.py:2"]
