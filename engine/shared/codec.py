"""Cache entries as bytes: MessagePack (msgspec) with a type tag, decoded through a registry.

No pickle, ever: a value decodes only into a type registered under its tag (or into plain
builtins). Layout: ``[tag, value, expires_at, missing]`` in MessagePack, ``value`` itself
MessagePack-encoded. Guarantees:

- A value of a registered type round-trips to an equal value of that type (a generic such as
  ``Page[Artist]`` is registered per parameter; an instance is tagged with the first
  registration its encoding validates against).
- ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes`` and lists/tuples/dicts of them need
  no registration (tag ``""``); tuples come back as lists.
- Anything else is refused when encoding (:class:`TypeError`), so it is never stored.
- Decoding garbage, an unknown tag or a value that does not match its type's schema raises
  :class:`CorruptValue`.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

import msgspec

from engine.cache.store import Entry
from engine.errors import EngineError

__all__ = ["CorruptValue", "EntryCodec", "TypeRegistry"]

_BUILTINS = (type(None), bool, int, float, str, bytes, list, tuple, dict)


class CorruptValue(EngineError, ValueError):
    """Stored bytes that do not decode into an allowed type."""


class _Envelope(msgspec.Struct, array_like=True, frozen=True):
    tag: str
    value: msgspec.Raw
    expires_at: float
    missing: bool


class TypeRegistry:
    """Names -> msgspec types a shared store may decode values into."""

    def __init__(self, types: Mapping[str, Any] | None = None) -> None:
        self._decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {"": msgspec.msgpack.Decoder()}
        self._by_class: dict[type, list[str]] = {}
        for name, type_ in (types or {}).items():
            self.register(name, type_)

    def register(self, name: str, type_: Any) -> None:
        """Allow ``type_`` (a msgspec Struct, or a generic Struct with its parameters)."""
        cls = typing.get_origin(type_) or type_
        if not name or name in self._decoders:
            raise ValueError(f"type name {name!r} is empty or taken")
        if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
            raise TypeError(f"only msgspec Structs are registered, not {type_!r}")
        self._decoders[name] = msgspec.msgpack.Decoder(type_)
        self._by_class.setdefault(cls, []).append(name)

    def tag(self, value: Any, encoded: bytes) -> str:
        """The tag of ``value`` (whose MessagePack encoding is ``encoded``)."""
        cls = type(value)
        names = self._by_class.get(cls)
        if names is None:
            if cls in _BUILTINS:
                return ""
            raise TypeError(f"{cls.__name__} is not registered for the shared store")
        for name in names[:-1]:
            try:
                self._decoders[name].decode(encoded)
            except msgspec.ValidationError:
                continue
            return name
        return names[-1]

    def decode(self, tag: str, data: bytes) -> Any:
        decoder = self._decoders.get(tag)
        if decoder is None:
            raise CorruptValue(f"unknown type tag {tag!r}")
        try:
            return decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise CorruptValue(f"value does not decode as {tag or 'builtins'}: {exc}") from None


class EntryCodec:
    """Encodes :class:`~engine.cache.store.Entry` to bytes and back; see the module docstring."""

    __slots__ = ("_envelope", "_registry", "_value")

    def __init__(self, registry: TypeRegistry | None = None) -> None:
        self._registry = registry if registry is not None else TypeRegistry()
        self._value = msgspec.msgpack.Encoder()
        self._envelope = msgspec.msgpack.Decoder(_Envelope)

    def encode(self, entry: Entry) -> bytes:
        encoded = self._value.encode(entry.value)
        tag = self._registry.tag(entry.value, encoded)
        envelope = _Envelope(tag, msgspec.Raw(encoded), entry.expires_at, entry.missing)
        return self._value.encode(envelope)

    def decode(self, data: bytes) -> Entry:
        try:
            envelope = self._envelope.decode(data)
        except msgspec.DecodeError as exc:
            raise CorruptValue(f"not an entry: {exc}") from None
        value = self._registry.decode(envelope.tag, bytes(envelope.value))
        return Entry(value, envelope.expires_at, envelope.missing)
