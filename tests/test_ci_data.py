"""CI cannot pass blind: a test whose real data are missing skips on a developer's machine, fails under CI."""

from __future__ import annotations

import pytest

from bayesxp.testing.data import missing_real_data


def test_missing_data_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no XP library"):
        missing_real_data("no XP library")


def test_missing_data_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must not pass blind: no XP library"):
        missing_real_data("no XP library")


def test_an_empty_ci_variable_is_not_ci(monkeypatch):
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        missing_real_data("no XP library")
