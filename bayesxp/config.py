"""Frozen-dataclass configuration filled from YAML, and written back out resolved.

Each component owns its dataclass (``SelectionConfig`` in :mod:`bayesxp.data.selection`, ...); this module only
turns mappings and YAML files into those dataclasses, checking every key and type, and back.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from bayesxp.errors import ConfigError

__all__ = ["from_dict", "load_config", "to_dict", "save_config"]

T = TypeVar("T")


def _convert(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {value!r} fits none of {annotation}")
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {annotation.__name__}, got {value!r}")
        return from_dict(annotation, value, where)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        converted = [_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(converted) if origin is tuple else converted
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_type, value_type = args if args else (Any, Any)
        return {_convert(k, key_type, where): _convert(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], mapping: dict, where: str = "") -> T:
    """Build a (nested) frozen dataclass from a mapping, refusing unknown keys and wrong types.

    Args:
        cls: The dataclass type.
        mapping: Values by field name; absent fields take their defaults.
        where: Dotted prefix for error messages.

    Returns:
        The dataclass instance.

    Raises:
        ConfigError: Naming the offending key.

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class C:
        ...     rate: float = 0.1
        >>> from_dict(C, {"rate": 1})
        C(rate=1.0)
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(mapping) - set(fields)
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {sorted(unknown)}; known: {sorted(fields)}")
    kwargs = {}
    for name, value in mapping.items():
        kwargs[name] = _convert(value, hints[name], f"{where + '.' if where else ''}{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def load_config(cls: type[T], source: str | Path | dict | None = None, **overrides: Any) -> T:
    """Load a dataclass from a YAML file or mapping, then apply keyword overrides.

    Args:
        cls: The dataclass type.
        source: YAML path, mapping, or None for the defaults.
        **overrides: Top-level fields to replace.

    Returns:
        The dataclass instance.

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class C:
        ...     rate: float = 0.1
        >>> load_config(C, None, rate=0.5).rate
        0.5
    """
    if source is None:
        mapping: dict = {}
    elif isinstance(source, dict):
        mapping = dict(source)
    else:
        path = Path(source)
        try:
            mapping = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot be read as YAML ({' '.join(str(exc).split())})") from exc
        if not isinstance(mapping, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    mapping.update(overrides)
    return from_dict(cls, mapping)


def to_dict(config: Any) -> dict:
    """A dataclass as plain YAML/JSON-ready data (tuples become lists).

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class C:
        ...     sizes: tuple[int, ...] = (1, 2)
        >>> to_dict(C())
        {'sizes': [1, 2]}
    """

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically).

    Args:
        config: A dataclass instance.
        path: Output ``.yaml`` file.
    """
    from bayesxp.io.tables import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
