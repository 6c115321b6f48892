"""The catalogue's report: counts (:func:`summarise`) and the Markdown and JSON files (:func:`write_report`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bayesxp.testing.reliability.outcomes import NUM_SAMPLES, Outcome

__all__ = ["KEPT_HEADING", "summarise", "write_report"]

KEPT_HEADING = "## Behaviour fixed because of this catalogue"
"""The hand-kept section of ``reliability.md`` that :func:`write_report` carries over from the existing file."""


def summarise(results: list[Outcome], seconds: float) -> dict:
    """Counts for the report.

    Args:
        results: Every try.
        seconds: Wall time of the run.

    Returns:
        JSON-ready counts: inputs tried, tries, crashes with traceback, good stars lost, outcomes not as
        expected, per target and per outcome class.

    Example:
        >>> rows = [Outcome("a", "files", "read_table", "clear error", False, 0, 0, True),
        ...         Outcome("a", "files", "predict", "crash", True, 6, 6, False)]
        >>> counts = summarise(rows, 1.0)
        >>> counts["inputs_tried"], counts["crashes_with_traceback"], counts["good_stars_lost_by_target"]
        (1, 1, {'predict': 6})
    """
    cases = sorted({r.case for r in results})
    by_outcome: dict[str, int] = {}
    for r in results:
        by_outcome[r.outcome] = by_outcome.get(r.outcome, 0) + 1
    return {
        "inputs_tried": len(cases),
        "tries": len(results),
        "crashes_with_traceback": sum(r.traceback for r in results),
        "good_stars_lost": sum(r.good_lost for r in results),
        "not_as_expected": sum(not r.expected for r in results),
        "crashes_by_target": _count_by_target(results, lambda r: int(r.traceback)),
        "good_stars_lost_by_target": _count_by_target(results, lambda r: r.good_lost),
        "outcomes": by_outcome,
        "seconds": round(seconds, 1),
    }



def _count_by_target(results: list[Outcome], value: Callable[[Outcome], int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        if value(r):
            counts[r.target] = counts.get(r.target, 0) + value(r)
    return counts



def _kept_section(path: Path) -> list[str]:
    """The lines of the section :data:`KEPT_HEADING` of an existing report (up to the next heading), or none."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    if KEPT_HEADING not in lines:
        return []
    start = lines.index(KEPT_HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def write_report(results: list[Outcome], summary: dict, folder: Path, model: Path) -> None:
    """Write ``reliability.json`` (every try) and ``reliability.md`` (counts, then one table per group).

    The hand-kept section :data:`KEPT_HEADING` of an existing ``reliability.md`` (the behaviour fixed
    because of this catalogue) is carried over, after the counts.

    Args:
        results: Every try.
        summary: Their counts (:func:`summarise`).
        folder: Where the two files go (created if needed).
        model: The model folder used by ``predict``.

    Example:
        >>> import tempfile
        >>> rows = [Outcome("empty file", "files", "read_table", "clear error", False, 0, 0, True)]
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_report(rows, summarise(rows, 1.0), folder, Path("resources/model"))
        >>> sorted(path.name for path in folder.iterdir())
        ['reliability.json', 'reliability.md']
    """
    folder.mkdir(parents=True, exist_ok=True)
    kept = _kept_section(folder / "reliability.md")
    payload = {"summary": summary, "model": str(model), "num_samples": NUM_SAMPLES,
               "results": [asdict(r) for r in results]}
    (folder / "reliability.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [
        "# Reliability: bad inputs against every reader and `bayesxp predict`",
        "",
        f"Produced by `python benchmarks/reliability.py` (model folder: `{model.parent.name}/{model.name}`; "
        f"{NUM_SAMPLES} samples per star). Every bad file is derived from the real Gaia archive files "
        "of `shared/data/xp_misc`. Outcome classes: **clear error** (one message naming the file, column or star), "
        "**per-star status** (bad stars flagged, good ones kept), **handled transparently** (read as meant), "
        "**vague error** (a bayesxp error naming nothing), **crash** (a traceback reaches the user). *Good stars "
        "lost*: good stars missing, flagged, or with a result other than a clean run's.",
        "",
        "| count | value |",
        "|---|---|",
        f"| inputs tried (cases) | {summary['inputs_tried']} |",
        f"| tries (case x reader) | {summary['tries']} |",
        f"| crashes with traceback | {summary['crashes_with_traceback']} |",
        f"| good stars lost | {summary['good_stars_lost']} |",
        f"| outcomes not as expected | {summary['not_as_expected']} |",
        "",
        "Outcomes: " + ", ".join(f"{k}: {v}" for k, v in sorted(summary["outcomes"].items())) + ".",
        "Crashes by target: " + (", ".join(f"{k}: {v}" for k, v in summary["crashes_by_target"].items()) or "none")
        + "; good stars lost by target: "
        + (", ".join(f"{k}: {v}" for k, v in summary["good_stars_lost_by_target"].items()) or "none")
        + ".",
        "",
    ]
    lines += kept
    groups: dict[str, list[Outcome]] = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    for group, rows in groups.items():
        lines += [f"## {group}", "", "| input | reader | outcome | traceback | good lost | as expected | detail |",
                  "|---|---|---|---|---|---|---|"]
        for r in rows:
            detail = r.detail.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r.case} | {r.target} | {r.outcome} | {'yes' if r.traceback else ''} | "
                         f"{r.good_lost or ''} | {'' if r.expected else 'NO'} | {detail} |")
        lines.append("")
    (folder / "reliability.md").write_text("\n".join(lines))
