"""The seismic training table of the label transfer, its held-out evaluation, and the labelled library.

Training stars (all Kepler, plus Montalbán+2021) come from
:func:`bayesxp.labels.seismic_truth.merge_seismic_catalogues` with the consensus truth (APOKASC-2 >
Miglio+2021 > APOKASC-3 ... for mass; see that module). Their
input labels must be on the scale of the library's APOGEE DR17 ASPCAP labels:

- **APOKASC-3 gold stars**: ``Teff, [Fe/H], [Alp/Fe]`` of the gold table are DR17 ASPCAP values (Teff is
  identical to the library's); logg is the *seismic* logg (ASPCAP's own is not in any file here).
- **APOKASC-2 stars outside the gold table** (they hold all the stars above 2 Msun: the gold table has
  none): the VAC's labels are astroNN's, not ASPCAP's. They are mapped to the ASPCAP scale by a linear
  fit per label on the stars in both tables (Teff, [Fe/H]; [alpha/Fe] from astroNN [Mg/H] - [Fe/H]), and
  logg is the seismic logg from numax and the mapped Teff,
  ``logg = 4.438 + log10(numax / 3090 uHz) + 0.5 log10(Teff / 5772 K)``.
- **Montalbán+2021** metal-poor stars carry their DR17 allStar labels (spectroscopic logg).

Because the applied logg is ASPCAP's, the transfer adds Gaussian noise to the seismic logg while training
(:class:`~bayesxp.labels.transfer.LabelTransfer`). Its size is measured here: the robust scatter of DR17
ASPCAP logg about the seismic logg (from numax) of the Montalbán+2021 stars that are not in the library.

Every star of the XP library (by APOGEE_ID, and by KIC through the APOKASC id map) and every star of
``xp_seismic_dev.csv`` is excluded from training. A deterministic 80/20 split (hash of the KIC, else of the
APOGEE_ID) gives the held-out seismic stars on which the transfer is judged; the production model is then
refitted on all training stars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from astropy.stats import mad_std

from bayesxp.io.seismic import seismic_file
from bayesxp.io.tables import read_table
from bayesxp.labels.seismic_truth import merge_seismic_catalogues, seismic_dev_consensus
from bayesxp.labels.transfer import FEATURES, LabelTransfer, TransferConfig, TransferPrediction
from bayesxp.quantities import hash_bucket

__all__ = [
    "TRANSFER_SOURCES",
    "transfer_training_table",
    "measure_logg_noise",
    "holdout_mask",
    "transfer_metrics",
    "TransferReport",
    "fit_and_evaluate",
    "apply_transfer",
    "label_only_examples",
]

#: Input-label provenance of a training star.
TRANSFER_SOURCES = ("apokasc3_dr17", "apokasc2_astronn_mapped", "montalban21_dr17")

_NUMAX_SUN = 3090.0  # uHz
_TEFF_SUN = 5772.0  # K
_LOGG_SUN = 4.438  # dex


def seismic_logg(numax: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """Surface gravity from the numax scaling relation [dex].

    Args:
        numax: Frequency of maximum oscillation power [uHz].
        teff: Effective temperature [K].

    Returns:
        ``logg = 4.438 + log10(numax / 3090 uHz) + 0.5 log10(Teff / 5772 K)``.

    Example:
        >>> float(np.round(seismic_logg(np.array([3090.0]), np.array([5772.0]))[0], 3))
        4.438
    """
    return _LOGG_SUN + np.log10(numax / _NUMAX_SUN) + 0.5 * np.log10(teff / _TEFF_SUN)


def _linear_map(source: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """Least-squares ``target ~ a * source + b`` on finite pairs; returns (a, b, robust residual scatter)."""
    ok = np.isfinite(source) & np.isfinite(target)
    a, b = np.polyfit(source[ok], target[ok], 1)
    return float(a), float(b), float(mad_std(target[ok] - (a * source[ok] + b)))


def measure_logg_noise(catalogues: pd.DataFrame, library_apogee_ids: set[str], data_dir: object = None) -> dict:
    """Robust scatter of DR17 ASPCAP logg about the numax-based seismic logg (Montalbán+2021 stars).

    Args:
        catalogues: Output of :func:`~bayesxp.labels.seismic_truth.merge_seismic_catalogues` (for the Montalbán ids).
        library_apogee_ids: Stars to leave out (the XP library's).
        data_dir: Folder holding ``seismic/``.

    Returns:
        ``{"logg_noise": float, "n_stars": int, "median_offset": float}``.
    """
    table = read_table(seismic_file("montalban21", data_dir))
    ids = np.char.strip(np.asarray(table["APOGEE_ID"]).astype(str))
    numax = np.asarray(table["numax"], dtype=float)
    teff = np.asarray(table["TEFF"], dtype=float)
    logg = np.asarray(table["LOGG"], dtype=float)
    keep = np.isfinite(numax) & np.isfinite(teff) & np.isfinite(logg) & ~np.isin(ids, list(library_apogee_ids))
    residual = logg[keep] - seismic_logg(numax[keep], teff[keep])
    return {"logg_noise": float(mad_std(residual)), "n_stars": int(keep.sum()),
            "median_offset": float(np.median(residual))}


def transfer_training_table(
    catalogues: pd.DataFrame,
    library_apogee_ids: set[str],
    dev: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Seismic stars with ASPCAP-scale input labels and consensus truth, library and dev stars removed.

    Args:
        catalogues: Output of :func:`~bayesxp.labels.seismic_truth.merge_seismic_catalogues`.
        library_apogee_ids: APOGEE_IDs of every XP-library row.
        dev: Output of :func:`~bayesxp.labels.seismic_truth.seismic_dev_consensus` (its KICs and APOGEE_IDs are excluded too).

    Returns:
        ``(table, info)``: the table has ``teff, logg, fe_h, alpha_m, logg_is_seismic, mass, mass_err,
        age_gyr, age_err, mass_source, age_source, evolutionary_state, label_source, kic, apogee_id``; info
        holds the label maps and the exclusion counts.
    """
    n = len(catalogues)
    features = np.full((n, len(FEATURES)), np.nan)
    source = np.full(n, "", dtype=object)
    seismic = np.zeros(n, dtype=bool)

    # 1. APOKASC-3 gold: DR17 ASPCAP Teff, [Fe/H], [alpha/Fe]; seismic logg
    gold = catalogues["apokasc3_teff"].notna().to_numpy() & catalogues["apokasc3_logg_seis"].notna().to_numpy()
    features[gold] = catalogues.loc[gold, ["apokasc3_teff", "apokasc3_logg_seis", "apokasc3_fe_h",
                                    "apokasc3_alpha_fe"]].to_numpy(float)
    source[gold] = "apokasc3_dr17"
    seismic[gold] = True

    # 2. APOKASC-2 outside gold: astroNN labels mapped onto the ASPCAP scale, logg from numax
    astronn = {
        "teff": catalogues["apokasc2_astronn_teff"].to_numpy(float),
        "fe_h": catalogues["apokasc2_astronn_fe_h"].to_numpy(float),
        "alpha_m": (catalogues["apokasc2_astronn_mg_h"] - catalogues["apokasc2_astronn_fe_h"]).to_numpy(float),
    }
    aspcap = {
        "teff": catalogues["apokasc3_teff"].to_numpy(float),
        "fe_h": catalogues["apokasc3_fe_h"].to_numpy(float),
        "alpha_m": catalogues["apokasc3_alpha_fe"].to_numpy(float),
    }
    maps = {label: _linear_map(astronn[label], aspcap[label]) for label in astronn}
    numax = catalogues["apokasc2_numax"].to_numpy(float)
    vac_only = ~gold & np.isfinite(numax) & np.isfinite(astronn["teff"]) & np.isfinite(astronn["fe_h"])
    mapped = {label: maps[label][0] * astronn[label] + maps[label][1] for label in astronn}
    features[vac_only, 0] = mapped["teff"][vac_only]
    features[vac_only, 1] = seismic_logg(numax[vac_only], mapped["teff"][vac_only])
    features[vac_only, 2] = mapped["fe_h"][vac_only]
    features[vac_only, 3] = mapped["alpha_m"][vac_only]
    source[vac_only] = "apokasc2_astronn_mapped"
    seismic[vac_only] = True

    # 3. Montalban+2021: DR17 allStar labels, spectroscopic logg
    montalban = ~gold & ~vac_only & catalogues["montalban21_teff"].notna().to_numpy() & catalogues["montalban21_logg"].notna().to_numpy()
    features[montalban] = catalogues.loc[montalban, ["montalban21_teff", "montalban21_logg", "montalban21_fe_h",
                                    "montalban21_alpha_m"]].to_numpy(float)
    source[montalban] = "montalban21_dr17"

    table = pd.DataFrame(features, columns=list(FEATURES))
    table["logg_is_seismic"] = seismic
    table["label_source"] = source
    for column in ("mass", "mass_err", "age_gyr", "age_err", "mass_source", "age_source", "evolutionary_state",
                   "kic", "apogee_id"):
        table[column] = catalogues[column].to_numpy()
    info: dict = {"label_maps": {k: {"slope": v[0], "intercept": v[1], "residual_mad_std": v[2]}
                                 for k, v in maps.items()}}
    keep = (source != "") & np.isfinite(table["mass"].to_numpy(float)) & np.isfinite(features).all(axis=1)
    keep &= table["mass_source"].isin(["apokasc2", "miglio21", "apokasc3", "montalban21"]).to_numpy()
    info["with_labels_and_mass"] = int(keep.sum())
    in_library = table["apogee_id"].isin(library_apogee_ids).to_numpy()
    info["excluded_in_library"] = int((keep & in_library).sum())
    keep &= ~in_library
    if dev is not None:
        dev_kics = set(pd.concat([dev["kic"], dev.get("kic_jt", pd.Series(dtype="Int64"))]).dropna().astype(int))
        dev_ids = set(dev["apogee_id"]) - {""}
        in_dev = table["kic"].isin(dev_kics).fillna(False).to_numpy(bool) | table["apogee_id"].isin(dev_ids).to_numpy()
        info["excluded_in_seismic_dev"] = int((keep & in_dev).sum())
        keep &= ~in_dev
    table = table[keep].reset_index(drop=True)
    # ages only from seismic catalogues (the K2-GALAH "ages" are not seismic)
    seismic_age = table["age_source"].isin(["apokasc2", "miglio21", "montalban21", "apokasc705"])
    table.loc[~seismic_age, ["age_gyr", "age_err"]] = np.nan
    info["n_training"] = len(table)
    info["n_with_age"] = int(table["age_gyr"].notna().sum())
    info["by_label_source"] = table["label_source"].value_counts().to_dict()
    return table, info


def holdout_mask(table: pd.DataFrame, fraction_percent: int = 20) -> np.ndarray:
    """``(N,)`` bool: the held-out stars, from ``sha256("kic:<KIC>")`` (else the APOGEE_ID) mod 100.

    Args:
        table: Training table with ``kic`` and ``apogee_id``.
        fraction_percent: Percentage held out.

    Returns:
        The mask.

    Example:
        >>> stars = pd.DataFrame({"kic": pd.array([1, None], dtype="Int64"), "apogee_id": ["", "2M0001"]})
        >>> holdout_mask(stars, 100).tolist()
        [True, True]
    """
    keys = [f"kic:{int(k)}" if pd.notna(k) else f"apogee:{a}" for k, a in zip(table["kic"], table["apogee_id"])]
    buckets = hash_bucket(keys, 100)
    return buckets < fraction_percent


def transfer_metrics(prediction: TransferPrediction, mass: np.ndarray, mass_err: np.ndarray,
                     age: np.ndarray, age_err: np.ndarray) -> dict:
    """Scatter, bias and coverage of a transfer prediction against seismic truth.

    Coverage compares the truth with the predictive convolved with the truth's own error (in ln space).

    Args:
        prediction: The transfer's prediction for N stars.
        mass: ``(N,)`` true masses [Msun] (NaN where unknown).
        mass_err: ``(N,)`` their errors [Msun].
        age: ``(N,)`` true ages [Gyr] (NaN where unknown).
        age_err: ``(N,)`` their errors [Gyr].

    Returns:
        Nested dict ``{"mass": {...}, "age": {...}}`` of plain numbers.
    """
    out = {}
    for index, name, truth, truth_err, unit in ((0, "mass", mass, mass_err, "msun"),
                                                (1, "age", age, age_err, "gyr")):
        ok = np.isfinite(truth) & (truth > 0) & np.isfinite(prediction.mean[:, index])
        if ok.sum() == 0:
            continue
        predicted = np.exp(prediction.mean[ok, index])
        residual = predicted - truth[ok]
        log_residual = prediction.mean[ok, index] - np.log(truth[ok])
        frac_err = np.nan_to_num(truth_err[ok] / truth[ok], nan=0.0)
        z = log_residual / np.sqrt(prediction.std[ok, index] ** 2 + frac_err**2)
        out[name] = {
            "n": int(ok.sum()),
            f"mad_std_{unit}": float(mad_std(residual)),
            f"std_{unit}": float(np.std(residual)),
            f"bias_{unit}": float(np.median(residual)),
            "mad_std_fractional": float(mad_std(residual / truth[ok])),
            "mad_std_dex": float(mad_std(log_residual / np.log(10))),
            "coverage_68": float(np.mean(np.abs(z) < 1.0)),
            "coverage_95": float(np.mean(np.abs(z) < 1.959964)),
            "median_predicted_std_fractional": float(np.median(prediction.std[ok, index])),
        }
    return out


@dataclass
class TransferReport:
    """What :func:`fit_and_evaluate` measured.

    Attributes:
        info: Training-table counts and label maps.
        logg_noise: The measured logg noise and how.
        heldout: Metrics on the held-out seismic stars (the neural transfer), their seismic logg perturbed
            by the measured ASPCAP logg noise (as the transfer is applied).
        heldout_xgboost: The same for an XGBoost point model on the same features and split.
        seismic_dev: Metrics on ``xp_seismic_dev.csv`` with the library's own labels, per truth source.
    """

    info: dict
    logg_noise: dict
    heldout: dict
    heldout_xgboost: dict
    seismic_dev: dict = field(default_factory=dict)

    def to_markdown(self) -> str:
        """The figures as a Markdown table."""
        rows = ["| set | quantity | n | mad_std | std | bias | frac. mad_std | 68% cov. | 95% cov. |",
                "|---|---|---|---|---|---|---|---|---|"]

        def add(name: str, metrics: dict) -> None:
            for quantity, m in metrics.items():
                unit = "msun" if quantity == "mass" else "gyr"
                rows.append(
                    f"| {name} | {quantity} | {m['n']} | {m[f'mad_std_{unit}']:.3f} | {m[f'std_{unit}']:.3f} | "
                    f"{m[f'bias_{unit}']:+.3f} | {m['mad_std_fractional']:.3f} | "
                    f"{m.get('coverage_68', float('nan')):.2f} | {m.get('coverage_95', float('nan')):.2f} |"
                )

        add("held-out seismic (transfer)", self.heldout)
        add("held-out seismic (XGBoost point)", self.heldout_xgboost)
        for source, metrics in self.seismic_dev.items():
            add(f"xp_seismic_dev, truth {source}", metrics)
        return "\n".join(rows)


def _xgboost_point(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    import xgboost

    out = {}
    for name, column in (("mass", "mass"), ("age", "age_gyr")):
        has_train_truth = train[column].notna().to_numpy()
        model = xgboost.XGBRegressor(n_estimators=400, max_depth=4, learning_rate=0.05, subsample=0.8,
                                     random_state=0, n_jobs=2)
        model.fit(train.loc[has_train_truth, list(FEATURES)].to_numpy(float),
                  np.log(train.loc[has_train_truth, column].to_numpy(float)))
        has_test_truth = test[column].notna().to_numpy()
        predicted = np.exp(model.predict(test.loc[has_test_truth, list(FEATURES)].to_numpy(float)))
        truth = test.loc[has_test_truth, column].to_numpy(float)
        residual = predicted - truth
        unit = "msun" if name == "mass" else "gyr"
        out[name] = {"n": int(has_test_truth.sum()), f"mad_std_{unit}": float(mad_std(residual)),
                     f"std_{unit}": float(np.std(residual)), f"bias_{unit}": float(np.median(residual)),
                     "mad_std_fractional": float(mad_std(residual / truth))}
    return out


def _features(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(FEATURES)].to_numpy(float, copy=True)


def _log_truth(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    mass = frame["mass"].to_numpy(float)
    age = frame["age_gyr"].to_numpy(float)
    log_truth = np.c_[np.log(mass), np.log(age)]
    log_err = np.c_[frame["mass_err"].to_numpy(float) / mass, frame["age_err"].to_numpy(float) / age]
    return log_truth, log_err


def _training_inputs(library_meta: pd.DataFrame, data_dir: object) -> tuple[pd.DataFrame, dict, dict, pd.DataFrame]:
    """The seismic training table (library and dev stars left out), its info, the measured logg noise and the
    dev consensus: what the label transfer and the label-only examples both start from."""
    catalogues = merge_seismic_catalogues(data_dir)
    dev = seismic_dev_consensus(data_dir=data_dir)
    library_ids = set(library_meta["apogee_id"])
    table, info = transfer_training_table(catalogues, library_ids, dev)
    return table, info, measure_logg_noise(catalogues, library_ids, data_dir), dev


def fit_and_evaluate(
    library_meta: pd.DataFrame,
    config: TransferConfig | None = None,
    data_dir: object = None,
) -> tuple[LabelTransfer, TransferReport]:
    """Build the training table, judge the transfer on held-out seismic stars, refit on all of them.

    Args:
        library_meta: The library's per-row table (``apogee_id``, ``teff``, ``logg``, ``fe_h``,
            ``alpha_m``, ``xp_row``), used for exclusion and for the dev-set check.
        config: Transfer hyper-parameters.
        data_dir: Folder holding ``seismic/`` and ``xp_seismic_dev.csv``.

    Returns:
        The production transfer (fitted on every training star) and the report.
    """
    config = config or TransferConfig()
    table, info, noise, dev = _training_inputs(library_meta, data_dir)
    logg_noise = config.logg_noise if config.logg_noise is not None else noise["logg_noise"]
    noise["used"] = logg_noise
    held = holdout_mask(table)
    train, test = table[~held], table[held]
    # the Montalban stars' logg is already spectroscopic: they get no extra noise (logg_is_seismic)
    model = LabelTransfer(config).fit(_features(train), *_log_truth(train), logg_noise=logg_noise,
                                      logg_is_seismic=train["logg_is_seismic"].to_numpy())
    # judged as applied: the held-out seismic logg gets the same ASPCAP-like noise (fixed seed)
    test_features = _features(test).copy()
    noise_draw = np.random.default_rng(config.seed).normal(0.0, logg_noise, len(test))
    test_features[:, 1] += np.where(test["logg_is_seismic"].to_numpy(), noise_draw, 0.0)
    prediction = model.predict(test_features)
    heldout = transfer_metrics(prediction, test["mass"].to_numpy(float), test["mass_err"].to_numpy(float),
                               test["age_gyr"].to_numpy(float), test["age_err"].to_numpy(float))
    noisy_test = test.copy()
    noisy_test["logg"] = test_features[:, 1]
    report = TransferReport(info=info, logg_noise=noise, heldout=heldout,
                            heldout_xgboost=_xgboost_point(train, noisy_test))
    report.info["n_heldout"] = int(held.sum())
    # the dev stars, with the library's own ASPCAP labels as inputs (never used for fitting)
    by_row = library_meta.set_index("xp_row")
    dev_features = by_row.loc[dev["xp_row"], ["teff", "logg", "fe_h", "alpha_m"]].to_numpy(float)
    dev_prediction = model.predict(dev_features)
    report.seismic_dev["consensus"] = transfer_metrics(
        dev_prediction, dev["mass"].to_numpy(float), dev["mass_err"].to_numpy(float),
        dev["age_gyr"].to_numpy(float), dev["age_err"].to_numpy(float))
    production = LabelTransfer(config).fit(_features(table), *_log_truth(table), logg_noise=logg_noise,
                                           logg_is_seismic=table["logg_is_seismic"].to_numpy())
    return production, report


def apply_transfer(model: LabelTransfer, library_meta: pd.DataFrame) -> pd.DataFrame:
    """Mass and age labels for library rows from their APOGEE labels.

    Args:
        model: A fitted transfer.
        library_meta: Rows with ``teff, logg, fe_h, alpha_m``.

    Returns:
        Per row: ``transfer_ln_mass, transfer_ln_mass_err, transfer_ln_age, transfer_ln_age_err,
        transfer_mass_age_corr, transfer_mass, transfer_mass_err, transfer_age_gyr, transfer_age_err,
        transfer_epistemic_ln_mass_err, transfer_epistemic_ln_age_err, transfer_in_domain`` (NaN where a
        label is missing).
    """
    features = library_meta[["teff", "logg", "fe_h", "alpha_m"]].to_numpy(float)
    prediction = model.predict(features)
    return pd.DataFrame({
        "transfer_ln_mass": prediction.mean[:, 0],
        "transfer_ln_mass_err": prediction.std[:, 0],
        "transfer_ln_age": prediction.mean[:, 1],
        "transfer_ln_age_err": prediction.std[:, 1],
        "transfer_mass_age_corr": prediction.corr,
        "transfer_mass": prediction.mass,
        "transfer_mass_err": prediction.mass_err,
        "transfer_age_gyr": prediction.age_gyr,
        "transfer_age_err": prediction.age_err,
        "transfer_epistemic_ln_mass_err": prediction.epistemic_std[:, 0],
        "transfer_epistemic_ln_age_err": prediction.epistemic_std[:, 1],
        "transfer_in_domain": model.in_domain(features) & np.isfinite(features).all(axis=1),
    })


def label_only_examples(library_meta: pd.DataFrame, label_error: dict[str, float], seed: int = 0,
                        data_dir: object = None) -> tuple[pd.DataFrame, dict]:
    """The seismic training stars as label-only examples: APOGEE-scale labels with seismic mass and age.

    The stars and labels of :func:`transfer_training_table` (every XP-library star and every dev star left
    out; hence every reserved star, all of which are library stars), in the label names of
    :data:`~bayesxp.quantities.TARGET_LABELS`: ``teff, logg, m_h`` (= [Fe/H], as the library's), ``alpha_m``,
    ``ln_mass, ln_age`` (consensus seismic truth), each with an ``_err`` column; ``apogee_id`` and ``kic``
    name the star. A seismic logg gets the
    measured ASPCAP-like noise (:func:`measure_logg_noise`, seeded) and that noise as its error, as the label
    transfer does; Teff, [M/H], [alpha/M] get ``label_error`` (e.g. the library's median ASPCAP errors).

    Args:
        library_meta: The XP library's per-row table (``apogee_id``; its stars are left out).
        label_error: ``{"teff", "m_h", "alpha_m": 1-sigma}`` given to the context labels.
        seed: Seed of the logg noise.
        data_dir: Folder holding ``seismic/`` and ``xp_seismic_dev.csv``.

    Returns:
        ``(table, info)``: info holds the counts (stars, with mass, with age) and the logg noise.
    """
    table, info, noise, _ = _training_inputs(library_meta, data_dir)
    noise = noise["logg_noise"]
    seismic_logg = table["logg_is_seismic"].to_numpy(bool)
    draw = np.random.default_rng(seed).normal(0.0, noise, len(table))
    out = pd.DataFrame({
        "apogee_id": table["apogee_id"].to_numpy(), "kic": table["kic"].to_numpy(),
        "teff": table["teff"].to_numpy(float), "teff_err": label_error["teff"],
        "logg": table["logg"].to_numpy(float) + np.where(seismic_logg, draw, 0.0), "logg_err": noise,
        "m_h": table["fe_h"].to_numpy(float), "m_h_err": label_error["m_h"],
        "alpha_m": table["alpha_m"].to_numpy(float), "alpha_m_err": label_error["alpha_m"],
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, value, error in (("ln_mass", "mass", "mass_err"), ("ln_age", "age_gyr", "age_err")):
            v, e = table[value].to_numpy(float), table[error].to_numpy(float)
            out[name] = np.where(v > 0, np.log(v), np.nan)
            out[f"{name}_err"] = np.where((v > 0) & (e > 0), e / v, np.nan)
    keep = np.isfinite(out[["teff", "logg", "m_h"]].to_numpy()).all(axis=1) & np.isfinite(out["ln_mass"].to_numpy())
    out = out[keep].reset_index(drop=True)
    counts = {"n_stars": int(len(out)), "n_with_age": int(np.isfinite(out["ln_age"]).sum()),
              "logg_noise": float(noise), "excluded": info.get("excluded", {})}
    return out, counts
