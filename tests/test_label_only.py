"""The seismic stars as label-only training examples (RunConfig.label_only_seismic), on the real files.

They must never bring a judged star into training: every XP-library star (hence every reserved star) and
every dev star is left out. Checked with an independent matcher against reserved_stars.csv and the library.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesxp.data.dataset import TrainingSet
from bayesxp.io.library import read_reserved_stars
from bayesxp.labels.seismic_training import label_only_examples
from bayesxp.model.folder import default_model_path, load_foundation
from bayesxp.model.train import label_only_tokens
from bayesxp.quantities import LABELS

ERRORS = {"teff": 10.0, "m_h": 0.01, "alpha_m": 0.01}


def test_label_only_examples_leave_out_every_judged_star(shared_data, library):
    table, counts = label_only_examples(library.meta, ERRORS, data_dir=shared_data)
    # measured on the shipped files: 9,051 stars (APOKASC-3 gold, APOKASC-2, Montalban+2021), 8,998 with an age
    assert counts["n_stars"] == len(table) == 9051 and counts["n_with_age"] == 8998
    ids = set(table["apogee_id"].fillna("").astype(str).str.strip()) - {""}
    reserved = read_reserved_stars(shared_data / "reserved_stars.csv")
    reserved_ids = set(str(n).strip() for n in reserved["apogee_id"] if str(n).strip())
    library_ids = set(library.meta["apogee_id"].astype(str).str.strip())
    dev = pd.read_csv(shared_data / "xp_seismic_dev.csv")
    dev_kic = set(pd.to_numeric(dev["kic"], errors="coerce").dropna().astype(int))
    assert not ids & reserved_ids and not ids & library_ids
    assert not set(pd.to_numeric(table["kic"], errors="coerce").dropna().astype(int)) & dev_kic
    # the check can fail: the reserved list does overlap the library it is measured against
    assert len(reserved_ids & library_ids) > 300
    # labels on the library's scale; mass and age the seismic truth in ln space with positive errors
    assert table["teff"].between(3000, 6500).all() and table["logg"].between(0.0, 4.0).all()
    assert np.isfinite(table["ln_mass"]).all() and (table["ln_mass_err"].dropna() > 0).all()
    assert 0.8 < np.exp(table["ln_mass"]).median() < 1.6


def test_label_only_tokens_have_labels_and_no_spectrum(shared_data):
    foundation = load_foundation(default_model_path())
    stars = TrainingSet.synthetic(40, seed=0)
    stars.split[:] = "train"
    from bayesxp.data.dataset import DataConfig

    tokens, counts = label_only_tokens(foundation.tokenizer, stars, DataConfig(data_dir=str(shared_data)))
    keys = foundation.tokenizer.keys
    present = dict(zip(keys, tokens.present.T))
    assert len(tokens) == counts["n_stars"]
    assert all(present[k].all() for k in ("teff", "logg", "m_h", "alpha_m", "ln_mass"))
    assert not any(present[k].any() for k in keys if k not in LABELS)  # no spectral token
    assert not any(present[k].any() for k in ("bp_rp", "j_h", "j_k", "ak_targ"))
    assert np.isfinite(tokens.values).all() and np.isfinite(tokens.errors).all()
