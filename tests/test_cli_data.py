"""The command line: `bayesxp demo`, `bayesxp data build` refusing bad configs in one line, `--version`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bayesxp import __version__
from bayesxp.cli import build_parser, main


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("bayesxp: error: ")
    return lines[0]


def test_demo_writes_posteriors_for_every_demo_star(capsys, tmp_path):
    import re

    from astropy.table import Table

    code, out, _ = _run(["demo", "--output", str(tmp_path), "--num-samples", "50"], capsys)
    assert code == 0
    assert f"bayesxp {__version__}: posteriors for the 240 bundled demo giants" in out
    table = Table.read(tmp_path / "demo_posteriors.csv")
    assert len(table) == 240 and set(table["status"]) == {"ok"}
    assert {"mass_q16", "mass_q84", "age_q50", "mass_age_corr"} <= set(table.colnames)
    assert (tmp_path / "demo_corner_star0.png").stat().st_size > 0
    # known answer: the shipped model recovers APOGEE Teff of these unseen stars to well under 100 K (measured 51 K)
    teff = float(re.search(r"teff mad_std ([0-9.]+)", out).group(1))
    assert teff < 100


def test_version_in_process(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayesxp {__version__}"


def test_version_through_the_interpreter():
    result = subprocess.run([sys.executable, "-m", "bayesxp.cli", "--version"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == f"bayesxp {__version__}"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("selection:\n  loggmax: 3.5\n", "selection: unknown key(s) ['loggmax']"),
        ("transfer:\n  epochs: true\n", "transfer.epochs: expected an integer, got True"),
        ("selection:\n  logg_max: high\n", "selection.logg_max: expected a number, got 'high'"),
        ("- just\n- a list\n", "expected a mapping at the top level"),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path, capsys, yaml_text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    code, out, err = _run(["data", "build", "--config", str(config), "--output", str(tmp_path / "out")], capsys)
    assert code == 2
    line = _one_line_error(err)
    assert message in line
    assert not (tmp_path / "out").exists()  # nothing was built


def test_missing_config_file_exits_2(tmp_path, capsys):
    code, _, err = _run(["data", "build", "--config", str(tmp_path / "absent.yaml")], capsys)
    assert code == 2
    assert str(tmp_path / "absent.yaml") in _one_line_error(err)


def test_yaml_syntax_error_is_one_line(tmp_path, capsys):
    config = tmp_path / "broken.yaml"
    config.write_text("selection:\n  logg_max: 3.5\n bad: [\n")
    code, _, err = _run(["data", "build", "--config", str(config)], capsys)
    assert code == 2
    assert str(config) in _one_line_error(err)


@pytest.mark.parametrize("key", ["library", "data_dir"])
def test_wrong_input_path_exits_2(tmp_path, capsys, key, shared_data):
    config = tmp_path / "paths.yaml"
    config.write_text(f"{key}: {tmp_path / 'nowhere'}\n")
    code, _, err = _run(["data", "build", "--config", str(config)], capsys)
    assert code == 2
    assert "nowhere" in _one_line_error(err)


def test_parser_requires_a_command(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([])
    assert info.value.code == 2
    args = build_parser().parse_args(["data", "build", "--config", "c.yaml", "--no-cache"])
    assert (args.config, args.no_cache, args.output) == ("c.yaml", True, "runs/data")
