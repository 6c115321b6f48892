"""Frozen-dataclass configuration: YAML in, resolved YAML out, every key and type checked by its dotted name."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Literal

import pytest
import yaml

from bayesxp.config import from_dict, load_config, save_config, to_dict
from bayesxp.data.dataset import DataConfig
from bayesxp.data.selection import SelectionConfig
from bayesxp.errors import BayesXPError, ConfigError
from bayesxp.labels.transfer import TransferConfig

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class _Inner:
    rate: float = 0.1
    mode: Literal["fast", "exact"] = "fast"


@dataclasses.dataclass(frozen=True)
class _Outer:
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    window: tuple[float, float] = (1.0, 2.0)
    sizes: tuple[int, ...] = (8, 16)
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    name: str | None = None


# ------------------------------------------------------------------------------------ known answers
def test_shipped_data_yaml_states_the_defaults():
    """configs/data.yaml spells out every default of DataConfig, so loading it gives DataConfig()."""
    assert load_config(DataConfig, REPO / "configs" / "data.yaml") == DataConfig()


def test_none_source_gives_defaults_and_overrides_apply():
    assert load_config(DataConfig) == DataConfig()
    config = load_config(DataConfig, None, use_cache=False)
    assert config.use_cache is False and config.selection == SelectionConfig()


def test_nested_dataclass_and_tuple_fields():
    config = from_dict(DataConfig, {"selection": {"logg_max": 3.3, "require_labels": ["teff", "logg"]},
                                    "transfer": {"epochs": 7, "logg_noise": 0.1}})
    assert config.selection == SelectionConfig(logg_max=3.3, require_labels=("teff", "logg"))
    assert isinstance(config.selection.require_labels, tuple)
    assert config.transfer == TransferConfig(epochs=7, logg_noise=0.1)


def test_int_where_float_is_widened():
    config = from_dict(SelectionConfig, {"logg_max": 3, "teff_max": 5000})
    assert config.logg_max == 3.0 and type(config.logg_max) is float
    assert type(config.teff_max) is float


def test_generic_fields_literal_tuple_dict_optional():
    config = from_dict(_Outer, {"inner": {"rate": 1, "mode": "exact"}, "sizes": [1, 2, 3],
                                "weights": {"a": 1, "b": 0.5}, "name": None})
    assert config == _Outer(_Inner(1.0, "exact"), (1.0, 2.0), (1, 2, 3), {"a": 1.0, "b": 0.5}, None)
    assert from_dict(_Outer, {"name": "run"}).name == "run"


_FIXED_TUPLE_BUG = ("BUG: config._convert unpacks enumerate(zip(args, value)) as (v, a), swapping type and "
                    "value, so a fixed-length tuple field returns its types, e.g. (float, float)")


def test_fixed_length_tuple_field():
    assert from_dict(_Outer, {"window": [0, 5.5]}).window == (0.0, 5.5)


def test_fixed_length_tuple_item_type_is_checked():
    with pytest.raises(ConfigError, match=r"^window\[1\]: expected a number"):
        from_dict(_Outer, {"window": [1.0, "x"]})


def test_to_dict_is_plain_data():
    plain = to_dict(DataConfig(library=None, selection=SelectionConfig(require_labels=("teff",))))
    assert plain["selection"]["require_labels"] == ["teff"]  # tuples become lists
    assert plain["transfer"]["logg_noise"] is None
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain  # nothing YAML cannot write


def test_yaml_round_trip(tmp_path):
    config = DataConfig(
        library="/data/lib.fits.gz",
        distmass=None,
        selection=SelectionConfig(logg_max=3.2, teff_min=3800.0, require_labels=("teff", "logg", "fe_h", "alpha_m"),
                                  test_bucket=7, val_bucket=3),
        transfer=TransferConfig(hidden=16, n_members=2, logg_noise=0.05, seed=11),
        use_cache=False,
    )
    path = tmp_path / "resolved.yaml"
    save_config(config, path)
    assert os.listdir(tmp_path) == ["resolved.yaml"]  # written atomically, no temporary file left
    assert load_config(DataConfig, path) == config
    assert load_config(DataConfig, path) != DataConfig()  # the check can tell configs apart
    assert yaml.safe_load(path.read_text())["selection"]["require_labels"] == ["teff", "logg", "fe_h", "alpha_m"]


# --------------------------------------------------------------------------- refused, naming the key
@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"selectoin": {}}, r"DataConfig: unknown key\(s\) \['selectoin'\]"),
        ({"selection": {"loggmax": 3.0}}, r"^selection: unknown key\(s\) \['loggmax'\]; known: \[.*'logg_max'"),
        ({"transfer": {"epochs": True}}, r"^transfer\.epochs: expected an integer, got True"),
        ({"transfer": {"epochs": 2.5}}, r"^transfer\.epochs: expected an integer, got 2\.5"),
        ({"selection": {"logg_max": "3.5"}}, r"^selection\.logg_max: expected a number, got '3\.5'"),
        ({"selection": {"logg_max": False}}, r"^selection\.logg_max: expected a number, got False"),
        ({"selection": {"giants_only": "yes"}}, r"^selection\.giants_only: expected true or false, got 'yes'"),
        ({"selection": {"require_labels": "teff"}}, r"^selection\.require_labels: expected a list, got 'teff'"),
        ({"selection": {"require_labels": ["teff", 3]}}, r"^selection\.require_labels\[1\]: expected a string"),
        ({"transfer": {"logg_noise": "high"}}, r"^transfer\.logg_noise: 'high' fits none of"),
        ({"selection": 5}, r"^selection: expected a mapping for SelectionConfig, got 5"),
        ({"library": 3}, r"^library: 3 fits none of"),
        ({"selection": {"test_bucket": 1}}, r"^selection: test_bucket and val_bucket must be different digits"),
        ({"selection": {"min_finite_fraction": 1.5}}, r"^selection: min_finite_fraction must lie in \[0, 1\]"),
    ],
)
def test_bad_values_are_refused_by_dotted_name(mapping, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(DataConfig, mapping)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [({"window": [1.0]}, r"^window: expected 2 items, got 1"),
     ({"inner": {"mode": "slow"}}, r"^inner\.mode: 'slow' is not one of \['fast', 'exact'\]"),
     ({"weights": {"a": "heavy"}}, r"^weights\.a: expected a number"),
     ({"sizes": [1, True]}, r"^sizes\[1\]: expected an integer")],
)
def test_generic_fields_refused_by_dotted_name(mapping, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(_Outer, mapping)


def test_config_error_is_catchable_as_bayesxp_and_value_error():
    with pytest.raises(BayesXPError):
        from_dict(SelectionConfig, {"nope": 1})
    with pytest.raises(ValueError):
        from_dict(SelectionConfig, {"nope": 1})


def test_from_dict_refuses_a_non_dataclass():
    with pytest.raises(TypeError, match="is not a dataclass"):
        from_dict(dict, {})


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['use_cash'\]"):
        load_config(DataConfig, None, use_cash=False)


# ------------------------------------------------------------------------------------ YAML files
def test_yaml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("selection:\n  logg_max: 3.5\n bad: [\n")
    with pytest.raises(ConfigError, match=f"^{path}: cannot be read as YAML"):
        load_config(DataConfig, path)


def test_yaml_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=f"^{path}: expected a mapping at the top level"):
        load_config(DataConfig, path)


def test_missing_yaml_file_names_it(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=f"^{path}: cannot be read as YAML"):
        load_config(DataConfig, path)


def test_empty_yaml_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing set\n")
    assert load_config(DataConfig, path) == DataConfig()


def test_yaml_type_error_names_the_dotted_key(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("transfer:\n  n_members: five\n")
    with pytest.raises(ConfigError, match=r"^transfer\.n_members: expected an integer, got 'five'"):
        load_config(DataConfig, path)
