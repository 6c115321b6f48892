"""The command line people learn from ``--help``: every subcommand shows an example that parses, the top-level
help lists the exit codes, a user mistake is one ``bayesxp: error:`` line with exit status 2 (no traceback),
Ctrl-C is 130, and a bug is 1 with its traceback."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bayesxp import cli
from bayesxp.cli import build_parser, main
from bayesxp.data.demo import demo_path
from bayesxp.io.tables import read_table, write_table


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser by its full name ("predict", "data", "data build", ...), walked from the parser
    itself, so that a new subcommand is checked without being listed here."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix}{name}"
                found[full] = sub
                found.update(_commands(sub, full + " "))
    return found


COMMANDS = _commands(build_parser())


def _examples(help_text: str) -> list[str]:
    return [line.strip() for line in help_text.split("Example", 1)[-1].splitlines() if line.strip().startswith("bayesxp")]


def _user_error(err: str) -> str:
    """The one ``bayesxp: error:`` line of a user mistake (usage lines may precede it; no traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith("bayesxp: error: "), err
    return lines[0]


def test_the_walk_finds_every_subcommand():
    assert {"run", "predict", "generate", "inpaint", "ppc", "fit-mcmc", "calibrate", "data", "data build", "train",
            "fit-heads", "demo"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_ends_with_an_example_that_parses(name, capsys):
    with pytest.raises(SystemExit) as info:
        main([*name.split(), "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"bayesxp {name}" in out.split("Example", 1)[1]
    examples = _examples(out)
    assert examples
    for example in examples:  # every example is a valid command line of this subcommand
        words = shlex.split(example, comments=True)[1:]
        assert words[: len(name.split())] == name.split()
        assert callable(build_parser().parse_args(words).handler)


def test_top_level_help_lists_commands_exit_codes_and_where_to_start(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    codes = out.split("Exit codes:", 1)[1]
    for code, word in [("0", "success"), ("1", "internal error"), ("2", "mistake"), ("130", "interrupted")]:
        assert any(line.split()[:1] == [code] and word in line for line in codes.splitlines()), codes
    assert "bayesxp run --input XP_CONTINUOUS_RAW.csv" in out
    for name in ("run", "predict", "calibrate", "fit-heads", "demo"):
        assert f"    {name} " in out or f"    {name}\n" in out
    for text in (cli.__doc__, main.__doc__):  # the exit codes are documented where the code is read too
        assert all(f"{code}" in text for code in (0, 1, 2, 130)) and "Exit codes" in text


def test_run_arguments_and_their_defaults():
    args = build_parser().parse_args(["run"])
    assert (args.input, args.output, args.model, args.num_samples, args.baseline, args.seed, args.quiet) == \
        (None, "bayesxp_run", None, 200, None, 0, False)
    args = build_parser().parse_args(["run", "--input", "XP_CONTINUOUS_RAW.csv", "--output", "r", "--model", "m",
                                      "--num-samples", "50", "--baseline", "b", "--seed", "3", "--quiet"])
    assert (args.input, args.output, args.model, args.num_samples, args.baseline, args.seed, args.quiet) == \
        ("XP_CONTINUOUS_RAW.csv", "r", "m", 50, "b", 3, True)


def test_run_calls_run_job_and_ends_with_the_report(monkeypatch, capsys):
    from bayesxp import report

    seen = {}

    def run_job(**kwargs):
        seen.update(kwargs)
        return report.RunResult(folder=Path("r"), report_path=Path("r/report.html"), predictions_path=Path("r/p.csv"),
                                posterior_path=Path("r/posterior.nc"), stars=3, ok=2, failed={"missing BP": 1},
                                seconds=1.5, stage_seconds={"posterior": 1.0, "report": 0.5})

    monkeypatch.setattr(report, "run_job", run_job)
    assert main(["run", "--output", "r", "--num-samples", "7", "--quiet"]) == 0
    assert seen == {"input": None, "output": "r", "model": None, "num_samples": 7, "baseline": None, "seed": 0,
                    "progress": False}
    out = capsys.readouterr().out.splitlines()
    assert "3 stars, 2 predicted" in out[0] and "1 missing BP" in out[0] and "posterior 1.0, report 0.5" in out[0]
    assert out[-1] == f"open {Path('r/report.html')}"


def test_generate_keeps_labels_as_an_alias_of_input():
    for flag in ("--input", "--labels"):
        assert build_parser().parse_args(["generate", flag, "labels.csv", "--output", "s.csv"]).input == "labels.csv"


@pytest.fixture(scope="module")
def two_stars(tmp_path_factory):
    path = tmp_path_factory.mktemp("stars") / "two.fits"
    write_table(read_table(demo_path())[:2], path)
    return path


def _mistakes(tmp: Path, two_stars: Path) -> dict[str, tuple[list[str], str]]:
    (tmp / "corrupt.fits").write_text("not a FITS file\n")
    (tmp / "results").mkdir()
    (tmp / "posteriors.csv").mkdir()
    missing, model = str(tmp / "missing.csv"), str(tmp / "no_such_model")
    return {  # name: (argv, a piece of the error line)
        "missing input": (["predict", "--input", missing, "--output", str(tmp / "o.csv")], "does not exist"),
        "missing input (generate --labels)": (["generate", "--labels", missing, "--output", str(tmp / "o.csv")],
                                              "does not exist"),
        "missing input (ppc)": (["ppc", "--input", missing, "--output", str(tmp / "o.csv")], "does not exist"),
        "a folder as output": (["predict", "--input", str(two_stars), "--output", str(tmp / "results")], "results"),
        "a folder named like a table as output": (["predict", "--input", str(two_stars), "--output",
                                                   str(tmp / "posteriors.csv"), "--quiet"], "it is a folder"),
        "a corrupt input": (["predict", "--input", str(tmp / "corrupt.fits"), "--output", str(tmp / "o.csv")],
                            "corrupt.fits"),
        "a missing model folder": (["predict", "--input", str(two_stars), "--output", str(tmp / "o.csv"), "--model",
                                    model], "no such model folder"),
        "a missing config (calibrate)": (["calibrate", "--config", str(tmp / "no_such.yaml")], "no_such.yaml"),
        "a missing config (train)": (["train", "--config", str(tmp / "no_such.yaml")], "no_such.yaml"),
        "a missing config (data build)": (["data", "build", "--config", str(tmp / "no_such.yaml")], "no_such.yaml"),
        "a missing config (fit-heads)": (["fit-heads", "--foundation", model, "--output", str(tmp / "m"), "--config",
                                          str(tmp / "no_such.yaml")], "no_such.yaml"),
        "too few walkers": (["fit-mcmc", "--input", str(two_stars), "--output", str(tmp / "m"), "--n-walkers", "2"],
                            "n_walkers"),
        "an unknown flag": (["predict", "--input", missing, "--output", "o.csv", "--samples", "5"], "--samples"),
        "a missing argument": (["predict", "--input", missing], "--output"),
        "a count below 1": (["predict", "--input", missing, "--output", "o.csv", "--num-samples", "0"],
                            "--num-samples"),
    }


def test_user_mistakes_are_one_line_and_exit_2(tmp_path, two_stars, capsys):
    for name, (argv, piece) in _mistakes(tmp_path, two_stars).items():
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert piece in _user_error(err), name


def test_ctrl_c_is_130_and_predict_says_it_resumes(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_predict", interrupted)
    monkeypatch.setattr(cli, "_demo", interrupted)
    assert main(["predict", "--input", "a.csv", "--output", "b.csv"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayesxp: interrupted") and "resume" in err
    assert main(["demo"]) == 130
    assert capsys.readouterr().err == "bayesxp: interrupted\n"


def test_a_bug_is_1_with_its_traceback(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("an internal bug")

    monkeypatch.setattr(cli, "_demo", broken)
    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("bayesxp: internal error") and "report" in lines[0]
    assert lines[1].startswith("Traceback") and lines[-1] == "RuntimeError: an internal bug"


def test_a_user_mistake_in_a_real_process_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bayesxp.cli", "predict", "--input", "missing.csv", "--output",
                             "o.csv"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "bayesxp: error: missing.csv: file does not exist\n"
