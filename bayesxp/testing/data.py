"""Real data in tests: a test whose real files are absent skips on a developer's machine and fails under CI.

CI sets ``CI``; there a missing ``../shared/data`` folder or XP library is an error, so that a green CI run
never means "the data tests did not run".
"""

from __future__ import annotations

import os
from typing import NoReturn

__all__ = ["missing_real_data"]


def missing_real_data(reason: str) -> NoReturn:
    """Skip the calling test (or fixture) because real data are absent; fail instead when ``CI`` is set.

    Args:
        reason: What is missing and how to get it.

    Raises:
        pytest.skip.Exception: Outside CI.
        pytest.fail.Exception: Under CI (environment variable ``CI`` set and not empty).

    Example:
        >>> import pytest
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, {"CI": ""}):
        ...     try:
        ...         missing_real_data("no library")
        ...     except pytest.skip.Exception as exc:
        ...         print(exc)
        no library
    """
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"CI must not pass blind: {reason}", pytrace=False)
    pytest.skip(reason)
