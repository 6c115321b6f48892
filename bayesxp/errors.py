"""Exception types: every error a user can cause names the file, column or star at fault.

All of them derive from :class:`BayesXPError`, so a batch job can catch one type, record the reason per
star and go on.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "BayesXPError",
    "InputFileError",
    "StarInputError",
    "ModelFileError",
    "ConfigError",
]


class BayesXPError(Exception):
    """Base class of every error bayesxp raises on purpose."""


class InputFileError(BayesXPError, ValueError):
    """A file that cannot be read as the expected format.

    Args:
        path: The file at fault.
        reason: What is wrong, in words.
        column: The column at fault, where one is.

    Example:
        >>> str(InputFileError("spectra.csv", "column is missing", column="bp_coefficients"))
        "spectra.csv: column 'bp_coefficients': column is missing"
    """

    def __init__(self, path: str | PathLike, reason: str, column: str | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.column = column
        where = f"{self.path}: column '{column}'" if column else self.path
        super().__init__(f"{where}: {reason}")


class StarInputError(BayesXPError, ValueError):
    """One star's input is unusable (NaN flux, wrong length, missing band, ...).

    Args:
        source_id: The star's identifier (Gaia source_id where known).
        reason: What is wrong, in words.

    Example:
        >>> str(StarInputError(42, "flux has 100 samples, expected 343"))
        'star 42: flux has 100 samples, expected 343'
    """

    def __init__(self, source_id: object, reason: str) -> None:
        self.source_id = source_id
        self.reason = reason
        super().__init__(f"star {source_id}: {reason}")


class ModelFileError(BayesXPError):
    """A model folder that is missing, corrupt, tampered with or from an incompatible version."""


class ConfigError(BayesXPError, ValueError):
    """A configuration file or mapping that does not fit its dataclass."""
