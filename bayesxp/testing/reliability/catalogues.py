"""The DistMass and seismic catalogue readers on damaged copies of their files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bayesxp.testing.reliability.inputs import _corrupt, _garbage, _truncate
from bayesxp.testing.reliability.outcomes import CRASH, ERROR, TRANSPARENT, VAGUE, _call, _names_place
from bayesxp.testing.reliability.runner import Runner

__all__ = ["catalogue_cases"]


def catalogue_cases(runner: Runner, distmass: Path | None = None) -> None:
    """DistMass and seismic readers on empty, truncated, corrupt and garbage copies of their files.

    Args:
        runner: The runner (its workspace's ``xp_misc`` sits in the shared data folder of the catalogues).
        distmass: A DistMass FITS file to damage (None: the DistMass reader is not tried).

    Example:
        >>> catalogue_cases(runner, Path("tests/data/distmass_small.fits"))  # doctest: +SKIP
    """
    from bayesxp.errors import BayesXPError
    from bayesxp.io import seismic
    from bayesxp.io.distmass import read_distmass
    from bayesxp.labels import seismic_truth

    shared = runner.workspace.xp_misc.parent
    edits = {"empty": lambda d: b"", "truncated": _truncate(0.6), "corrupt": _corrupt, "garbage": _garbage,
             "header only": None}
    targets = []
    if distmass is not None and distmass.is_file():
        targets.append(("read_distmass", distmass, lambda p: read_distmass(p)))
    dev = shared / "xp_seismic_dev.csv"
    if dev.is_file():
        targets.append(("seismic_dev_consensus", dev, lambda p: seismic_truth.seismic_dev_consensus(p, data_dir=shared)))
    for key, reader in (("apokasc2", seismic.read_apokasc2), ("apokasc3", seismic.read_apokasc3),
                        ("miglio21", seismic.read_miglio21), ("montalban21", seismic.read_montalban21),
                        ("apokasc705", seismic.read_apokasc705), ("corot", seismic.read_corot),
                        ("k2galah", seismic.read_k2galah)):
        source = shared / "seismic" / seismic._FILES[key]
        if source.is_file():
            targets.append((f"read_{key}", source, _catalogue_reader(reader, source)))
    for target, source, read in targets:
        for label, edit in edits.items():
            if edit is None:
                if source.suffix != ".csv":
                    continue
                data = source.read_bytes().split(b"\n", 1)[0] + b"\n"
            else:
                data = edit(source.read_bytes())
            folder = runner.workspace.fresh("seismic")
            folder.mkdir()
            path = folder / source.name
            path.write_bytes(data)
            value, exc, _ = _call(lambda path=path, read=read: read(path))
            name = f"{source.name}: {label}"
            if exc is None:
                n = len(value) if value is not None else 0
                runner.add(name, "catalogues", target, TRANSPARENT, False, "corrupt" in label,
                           f"read {n} rows")
            elif isinstance(exc, BayesXPError):
                named = _names_place(str(exc), path)
                runner.add(name, "catalogues", target, ERROR if named else VAGUE, False, named,
                           str(exc).replace(str(folder), "<dir>"))
            else:
                runner.add(name, "catalogues", target, CRASH, True, False, f"{type(exc).__name__}: {str(exc)[:160]}")


def _catalogue_reader(reader: Callable, source: Path) -> Callable[[Path], object]:
    """Read one catalogue with ``path`` swapped in for its file (the others stay the real ones)."""

    def read(path: Path) -> object:
        folder = path.parent.parent / "data"
        (folder / "seismic").mkdir(parents=True, exist_ok=True)
        for other in source.parent.iterdir():
            target = folder / "seismic" / other.name
            if not target.exists():
                target.symlink_to(path if other.name == path.name else other)
        return reader(folder)

    return read

