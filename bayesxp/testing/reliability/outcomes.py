"""What one try of the reliability catalogue records: the outcome classes, :class:`Outcome`, and running a
call the way a user would meet it (output captured, any escaping exception kept with its traceback).

Outcome classes: :data:`ERROR` (a :class:`~bayesxp.errors.BayesXPError` naming the file, column or star),
:data:`STATUS` (the bad stars flagged, the good ones kept), :data:`TRANSPARENT` (the input read as meant),
:data:`VAGUE` (a bayesxp error naming neither file nor column) and :data:`CRASH` (any other exception: a
traceback reaches the user).
"""

from __future__ import annotations

import contextlib
import io
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ERROR",
    "STATUS",
    "TRANSPARENT",
    "VAGUE",
    "CRASH",
    "NUM_SAMPLES",
    "N_STARS",
    "BAD",
    "SPECTRA_READERS",
    "Outcome",
]

NUM_SAMPLES = 20
"""Posterior samples per star in every ``bayesxp predict`` run of the catalogue."""
N_STARS = 6
"""Stars of each clean base table."""
BAD = 1
"""The row broken in per-star cases."""

ERROR = "clear error"
STATUS = "per-star status"
TRANSPARENT = "handled transparently"
VAGUE = "vague error"
CRASH = "crash"

SPECTRA_READERS = ("read_spectra", "iter_spectra")
"""The readers that return spectra of stars (with a status per star)."""


@dataclass
class Outcome:
    """One (case, target) try.

    Attributes:
        case: The input case's name.
        group: Its family of problem.
        target: The reader or command tried (``read_table``, ..., ``predict``).
        outcome: One of the outcome classes.
        traceback: A traceback reached the user.
        good_lost: Good stars missing, flagged, or with a result other than a clean run's.
        n_good: Good stars in the input.
        expected: The outcome is the one this case should get.
        detail: The message or statuses seen.

    Example:
        >>> Outcome("empty file", "files", "read_table", ERROR, False, 0, 0, True).expected
        True
    """

    case: str
    group: str
    target: str
    outcome: str
    traceback: bool
    good_lost: int
    n_good: int
    expected: bool
    detail: str = ""



def _names_place(message: str, path: Path, columns: tuple[str, ...] = ()) -> bool:
    return path.name in message or str(path) in message or any(c and c in message for c in columns)


@contextlib.contextmanager
def _quiet() -> Iterator[tuple[io.StringIO, io.StringIO, list]]:
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        yield out, err, caught


def _call(func: Callable[[], object]) -> tuple[object, BaseException | None, str]:
    """Run ``func``; return (value, exception, short traceback tail)."""
    try:
        with _quiet():
            return func(), None, ""
    except BaseException as exc:  # noqa: BLE001 - anything that escapes is what the user would see
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, exc, traceback.format_exc(limit=-3)

