"""Typed configuration: msgspec Structs that validate on construction and on decoding.

msgspec checks types and ``Meta`` constraints only when it decodes (TOML, JSON, ``convert``), not
when a Struct is built in code. :class:`Config` closes that gap: building one in code runs the
same checks and the same conversions, all the way down. ``RateLimitConfig(max_requests=-1)``
fails at once with a message that names the field, just as the same value in a TOML file does;
``EngineConfig(rate={"min_interval": 1})`` holds a :class:`~engine.limits.RateLimitConfig`, not
a dict; and ``EngineConfig(rate={"rules": [{"limit": 0, "window": 60}]})`` fails with
``EngineConfig.rate.rules[0].limit: Expected `int` >= 1 (got 0)``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec

from engine.errors import EngineError

__all__ = [
    "Config",
    "ConfigError",
    "NonNegative",
    "Positive",
    "PositiveInt",
    "load_config",
    "read_toml_file",
]

S = TypeVar("S")

#: A float > 0 (a window, a TTL, an interval that must not be zero).
Positive = Annotated[float, msgspec.Meta(gt=0)]
#: A float >= 0.
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
#: An int >= 1 (a count, a capacity).
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class ConfigError(EngineError, ValueError):
    """A configuration value is invalid; the message names the field and says why."""


# "Expected `int` >= 1 - at `$.rules[0].limit`": msgspec's message and the path it names.
_AT = re.compile(r"^(?P<reason>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
# "RetryConfig.max_delay: 1.0 is below ...": a Config's own message, rooted at its class name.
_ROOTED = re.compile(r"^[A-Za-z_]\w*(?P<path>(?:\.\w+|\[[^\]]*\])*): (?P<reason>.*)$", re.DOTALL)
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]|\[[^\]]*\]")
_NOTHING = object()


@functools.lru_cache(maxsize=256)
def struct_fields(cls: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    """``msgspec.structs.fields(cls)``, once per class: it resolves the type hints on every call."""
    return msgspec.structs.fields(cls)


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every configuration Struct: immutable, strict about unknown fields, validated.

    On construction each field is converted to its declared type, as decoding would: a mapping
    becomes the nested Config, a list of mappings a tuple of them, an int a float. A value that
    cannot be converted raises :class:`ConfigError` naming the field's whole path.
    """

    def __post_init__(self) -> None:
        for field in struct_fields(type(self)):
            value = getattr(self, field.name)
            try:
                converted = msgspec.convert(value, field.type)
            except msgspec.ValidationError as exc:
                raise ConfigError(
                    _field_error(f"{type(self).__name__}.{field.name}", value, exc)
                ) from None
            if converted is not value:
                msgspec.structs.force_setattr(self, field.name, converted)
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; override and raise :class:`ConfigError` naming the field."""


def _field_error(where: str, value: object, exc: msgspec.ValidationError) -> str:
    """``where`` (``EngineConfig.rate``) plus the path inside ``value`` that ``exc`` names, then
    why, then the offending value where it can be found."""
    message = str(exc)
    reason, path = message, ""
    at = _AT.match(message)
    if at is not None:
        reason, path = at["reason"], at["path"]
    cause = exc.__cause__
    if isinstance(cause, ConfigError):
        # A nested Config refused in its own words ("RetryConfig.max_delay: ..."): keep them,
        # re-rooted at this field, and do not show the whole nested value.
        rooted = _ROOTED.match(str(cause))
        if rooted is not None:
            return f"{where}{path}{rooted['path']}: {rooted['reason']}"
        return f"{where}{path}: {cause}"
    got = _leaf(value, path)
    return f"{where}{path}: {reason}" + ("" if got is _NOTHING else f" (got {got!r})")


def _leaf(value: object, path: str) -> object:
    """The value at msgspec's ``path`` (``.rules[0].limit``) inside ``value``, if it is there."""
    for match in _STEP.finditer(path):
        name, index = match.group(1), match.group(2)
        try:
            if name is not None:
                value = value[name] if isinstance(value, Mapping) else getattr(value, name)
            elif index is not None:
                value = value[int(index)]  # type: ignore[index]
            else:
                return _NOTHING  # a dict key, which msgspec does not name
        except (KeyError, IndexError, TypeError, AttributeError):
            return _NOTHING
    return value


def load_config(
    data: bytes | str | Mapping[str, Any] | Path,
    type_: type[S],
    *,
    format: str | None = None,
) -> S:
    """``data`` as a ``type_``; errors are :class:`ConfigError` naming the field path.

    ``data`` is TOML or JSON text (``bytes`` or ``str``; ``format`` says which, TOML unless
    told), a mapping of plain values (as a TOML or JSON document decodes to), or a
    :class:`pathlib.Path` to a ``.toml`` or ``.json`` file (``format`` from its suffix unless
    given).
    """
    if isinstance(data, Path):
        if format is None:
            format = data.suffix.lstrip(".").lower()
        data = data.read_bytes()
    elif format is None:
        format = "toml"
    try:
        if isinstance(data, Mapping):
            return msgspec.convert(data, type_)
        if format == "toml":
            return msgspec.toml.decode(data, type=type_)
        if format == "json":
            return msgspec.json.decode(data, type=type_)
    except msgspec.ValidationError as exc:
        raise ConfigError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"not valid {format.upper()}: {exc}") from None
    raise ValueError(f"format must be 'toml' or 'json', not {format!r}")


E = TypeVar("E", bound=ConfigError)


def read_toml_file(
    path: Path | Traversable, type_: type[S], *, what: str, error: type[E] = ConfigError
) -> S:
    """The TOML file at ``path`` as a ``type_``; every failure is one line of ``error`` that
    names the file: ``<path>: cannot read: <reason>``, ``<path>: not valid TOML: <reason>``,
    ``<path>: invalid <what>: <reason> - at `$.<field path>```. (Scenarios and plans are read
    with it.)"""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return msgspec.toml.decode(data, type=type_)
    except msgspec.ValidationError as exc:
        raise error(f"{path}: invalid {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise error(f"{path}: not valid TOML: {' '.join(str(exc).split())}") from None
