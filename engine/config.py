"""Typed configuration: msgspec Structs that validate on construction and on decoding.

msgspec checks types and ``Meta`` constraints only when it decodes (TOML, JSON, ``convert``), not
when a Struct is built in code. :class:`Config` closes that gap: building one in code runs the
same checks, so ``RateLimitConfig(max_requests=-1)`` fails at once with a message that names the
field, just as the same value in a TOML file does.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec

from engine.errors import EngineError

__all__ = ["Config", "ConfigError", "NonNegative", "Positive", "PositiveInt", "load_config"]

C = TypeVar("C", bound="Config")

#: A float > 0 (a window, a TTL, an interval that must not be zero).
Positive = Annotated[float, msgspec.Meta(gt=0)]
#: A float >= 0.
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
#: An int >= 1 (a count, a capacity).
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class ConfigError(EngineError, ValueError):
    """A configuration value is invalid; the message names the field and says why."""


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every configuration Struct: immutable, strict about unknown fields, validated."""

    def __post_init__(self) -> None:
        for field in msgspec.structs.fields(self):
            value = getattr(self, field.name)
            try:
                msgspec.convert(value, field.type)
            except msgspec.ValidationError as exc:
                raise ConfigError(
                    f"{type(self).__name__}.{field.name}: {exc} (got {value!r})"
                ) from None
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; override and raise :class:`ConfigError` naming the field."""


def load_config(data: bytes | str, type_: type[C], *, format: str = "toml") -> C:
    """Decode ``data`` (TOML or JSON) into ``type_``; errors name the field path."""
    try:
        if format == "toml":
            return msgspec.toml.decode(data, type=type_)
        if format == "json":
            return msgspec.json.decode(data, type=type_)
    except msgspec.ValidationError as exc:
        raise ConfigError(str(exc)) from None
    raise ValueError(f"format must be 'toml' or 'json', not {format!r}")
