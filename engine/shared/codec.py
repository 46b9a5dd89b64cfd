"""Cache entries as bytes: MessagePack (msgspec) with a type tag, decoded through a registry.

No pickle, ever: a value decodes only into a type registered under its tag (or into plain
builtins). Layout: ``[tag, value, expires_at, missing]`` in MessagePack, ``value`` itself
MessagePack-encoded. Guarantees:

- A value of a registered type round-trips to an equal value of that type (a generic such as
  ``Page[Artist]`` is registered per parameter; an instance is tagged with the first
  registration its encoding validates against).
- ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes`` and lists/tuples/dicts of them need
  no registration (tag ``""``); tuples come back as lists.
- Anything else is refused when encoding (:class:`TypeError`), so it is never stored; so is
  registering a type whose schema accepts arbitrary values (an ``Any``, ``object`` or bare
  ``dict``/``list`` field, or a MessagePack extension), which could not be validated.
- Decoding never raises anything but :class:`CorruptValue`, whatever the bytes: garbage, an
  unknown tag, a value that does not match its type's schema, a MessagePack extension (the
  timestamp one included) where plain builtins are expected, nesting too deep to decode
  (``RecursionError``), a non-finite ``expires_at``, or any other decoding error. A decoded value
  is always an instance of the type its tag names, or plain builtins all the way down.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from typing import Any, NoReturn

import msgspec
import msgspec.inspect

from engine.cache.store import Entry
from engine.errors import EngineError

__all__ = ["CorruptValue", "EntryCodec", "TypeRegistry"]

_BUILTINS = (type(None), bool, int, float, str, bytes, list, tuple, dict)
_SCALARS = frozenset({type(None), bool, int, float, str, bytes})
_CONTAINERS = frozenset({list, tuple, dict})


class CorruptValue(EngineError, ValueError):
    """Stored bytes that do not decode into an allowed type."""


class _Envelope(msgspec.Struct, array_like=True, frozen=True):
    tag: str
    value: msgspec.Raw
    expires_at: float
    missing: bool


def _refuse_extension(code: int, data: memoryview) -> NoReturn:
    """The decoders' ``ext_hook``: no cached value is a MessagePack extension."""
    raise CorruptValue(f"MessagePack extension type {code} is not a cache value")


def _decoder(type_: Any = Any) -> msgspec.msgpack.Decoder[Any]:
    return msgspec.msgpack.Decoder(type_, ext_hook=_refuse_extension)


def _check_builtins(value: Any) -> None:
    """Raise :class:`CorruptValue` unless ``value`` is plain builtins all the way down (what the
    untagged decoder may return otherwise: a ``datetime`` from a timestamp extension). Iterative:
    a value nested as deep as the decoder allows does not exhaust the stack here."""
    if type(value) in _SCALARS:
        return
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind not in _CONTAINERS:
            raise CorruptValue(f"untagged value holds a {kind.__name__}, not plain builtins")
        if kind is dict:
            pending.extend(item.keys())
            pending.extend(item.values())
        else:
            pending.extend(item)


def _open_schema(type_: Any) -> str | None:
    """What in ``type_``'s schema would accept a value that cannot be validated, or ``None``."""
    seen: set[int] = set()
    pending = [msgspec.inspect.type_info(type_)]
    while pending:
        info = pending.pop()
        if id(info) in seen:
            continue
        seen.add(id(info))
        if isinstance(info, msgspec.inspect.AnyType):
            return "an Any (or object, or bare dict/list) field"
        if isinstance(info, msgspec.inspect.ExtType):
            return "a MessagePack extension field"
        for name in ("item_type", "key_type", "value_type"):
            if (child := getattr(info, name, None)) is not None:
                pending.append(child)
        pending.extend(getattr(info, "item_types", ()))
        pending.extend(getattr(info, "types", ()))
        pending.extend(field.type for field in getattr(info, "fields", ()))
    return None


class TypeRegistry:
    """Names -> msgspec types a shared store may decode values into."""

    def __init__(self, types: Mapping[str, Any] | None = None) -> None:
        self._decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {"": _decoder()}
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
        if (why := _open_schema(type_)) is not None:
            raise TypeError(f"{type_!r} has {why}: its values could not be validated")
        self._decoders[name] = _decoder(type_)
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
        """The value ``data`` holds, of the type registered as ``tag`` (plain builtins for
        ``""``); :class:`CorruptValue`, and nothing else, if it cannot be that."""
        decoder = self._decoders.get(tag)
        if decoder is None:
            raise CorruptValue(f"unknown type tag {tag!r}")
        try:
            value = decoder.decode(data)
            if not tag:
                _check_builtins(value)
        except CorruptValue:
            raise
        except Exception as exc:  # DecodeError, RecursionError, anything a hostile value causes
            raise _corrupt(f"value does not decode as {tag or 'builtins'}", exc) from None
        return value


class EntryCodec:
    """Encodes :class:`~engine.cache.store.Entry` to bytes and back; see the module docstring."""

    __slots__ = ("_envelope", "_registry", "_value")

    def __init__(self, registry: TypeRegistry | None = None) -> None:
        self._registry = registry if registry is not None else TypeRegistry()
        self._value = msgspec.msgpack.Encoder()
        self._envelope = msgspec.msgpack.Decoder(_Envelope, ext_hook=_refuse_extension)

    def encode(self, entry: Entry) -> bytes:
        encoded = self._value.encode(entry.value)
        tag = self._registry.tag(entry.value, encoded)
        envelope = _Envelope(tag, msgspec.Raw(encoded), entry.expires_at, entry.missing)
        return self._value.encode(envelope)

    def decode(self, data: bytes) -> Entry:
        """The entry ``data`` holds; :class:`CorruptValue`, and nothing else, if it holds none."""
        try:
            envelope = self._envelope.decode(data)
        except CorruptValue:
            raise
        except Exception as exc:  # DecodeError, RecursionError, anything a hostile value causes
            raise _corrupt("not an entry", exc) from None
        if not math.isfinite(envelope.expires_at):
            raise CorruptValue(f"not an entry: expires_at is {envelope.expires_at!r}")
        value = self._registry.decode(envelope.tag, bytes(envelope.value))
        return Entry(value, envelope.expires_at, envelope.missing)


def _corrupt(what: str, exc: Exception) -> CorruptValue:
    return CorruptValue(f"{what}: {type(exc).__name__}: {exc}"[:500])
