"""Every docstring example of the library runs: the examples are doctests, collected module by module."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import bayesxp


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(bayesxp.__path__, "bayesxp."):
        module = importlib.import_module(info.name)
        tests = doctest.DocTestFinder().find(module)
        if any(not example.options.get(doctest.SKIP) for test in tests for example in test.examples):
            names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()


def _run(module: object) -> tuple[int, int, str]:
    """``(failed, attempted, report)`` of every example in a module (pytest's default flag, ELLIPSIS)."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    lines: list[str] = []
    for test in doctest.DocTestFinder().find(module):
        runner.run(test, out=lines.append)
    result = runner.summarize(verbose=False)
    return result.failed, result.attempted, "".join(lines)


def test_most_modules_carry_examples():
    """Public functions show a runnable example (STYLE.md): most library modules have some."""
    every = [info.name for info in pkgutil.walk_packages(bayesxp.__path__, "bayesxp.")]
    assert len(MODULES) >= 0.6 * len(every), sorted(set(every) - set(MODULES))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    failed, attempted, report = _run(importlib.import_module(name))
    assert attempted > 0
    assert failed == 0, report[-6000:]


def test_a_wrong_example_fails(tmp_path, monkeypatch):
    """The same runner reports a docstring example whose output is wrong."""
    (tmp_path / "wrong_example.py").write_text('def f():\n    """\n    >>> 1 + 1\n    3\n    """\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    failed, attempted, report = _run(importlib.import_module("wrong_example"))
    assert (failed, attempted) == (1, 1) and "Expected:\n    3\nGot:\n    2" in report
