"""The generative subcommands end to end through ``bayesxp.cli.main``: exit codes, files written, and a user
mistake (an unknown star, a table without labels) as one line on stderr with exit code 2."""

from __future__ import annotations

import arviz
import numpy as np
import pandas as pd
from astropy.table import Table

from bayesxp.cli import main
from bayesxp.data.demo import demo_path
from bayesxp.io.tables import read_table, write_table


def _two_stars(tmp_path):
    table = read_table(demo_path())[:2]
    write_table(table, tmp_path / "two.fits")
    return tmp_path / "two.fits", [int(v) for v in table["gaiaedr3_source_id"]]


def test_fit_mcmc_writes_chains_corner_and_summary(tmp_path, capsys):
    path, ids = _two_stars(tmp_path)
    code = main(["fit-mcmc", "--input", str(path), "--output", str(tmp_path / "mcmc"), "--source-id", str(ids[1]),
                 "--n-walkers", "12", "--n-steps", "40", "--burn", "10"])
    assert code == 0, capsys.readouterr().err
    summary = pd.read_csv(tmp_path / "mcmc" / "summary.csv")
    assert len(summary) == 6 and set(summary["source_id"]) == {ids[1]} and (summary["status"] == "ok").all()
    assert list(summary["label"]) == ["teff", "logg", "m_h", "alpha_m", "mass", "age"]  # mass, age in Msun, Gyr
    assert summary["amortised_q50"].notna().sum() == 5  # the joint head has no [alpha/M]
    chains = arviz.from_netcdf(tmp_path / "mcmc" / f"{ids[1]}.nc")
    assert chains.posterior["teff"].shape == (12, 30)
    assert (tmp_path / "mcmc" / f"{ids[1]}_corner.png").stat().st_size > 1000


def test_fit_mcmc_unknown_star_is_a_user_error(tmp_path, capsys):
    path, _ = _two_stars(tmp_path)
    code = main(["fit-mcmc", "--input", str(path), "--output", str(tmp_path / "mcmc"), "--source-id", "7"])
    assert code == 2 and "star 7: not in" in capsys.readouterr().err


def test_generate_and_ppc_commands(tmp_path, capsys):
    write_table(Table({"teff": [4800.0], "logg": [2.5], "m_h": [0.0]}), tmp_path / "labels.ecsv")
    assert main(["generate", "--labels", str(tmp_path / "labels.ecsv"), "--output", str(tmp_path / "s.ecsv")]) == 0
    assert read_table(tmp_path / "s.ecsv")["flux"].shape == (1, 343)
    path, _ = _two_stars(tmp_path)
    assert main(["ppc", "--input", str(path), "--output", str(tmp_path / "ppc.csv"), "--num-samples", "8"]) == 0
    pvalue = np.asarray(read_table(tmp_path / "ppc.csv")["ppc_pvalue"], float)
    assert pvalue.shape == (2,) and ((pvalue >= 0) & (pvalue <= 1)).all()
    write_table(Table({"colour": [1.0]}), tmp_path / "bad.csv")
    assert main(["generate", "--labels", str(tmp_path / "bad.csv"), "--output", str(tmp_path / "x.csv")]) == 2
    assert "none of the label columns" in capsys.readouterr().err
