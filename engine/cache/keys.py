"""Cache keys: stable across processes, namespaced and versioned.

A key reads ``v<version>:<namespace>:<canonical>``. ``<canonical>`` is

- a plain string key (a track ID, say) as it is, unless it starts with one of ``"{[#`` (then it
  is JSON-quoted so it cannot be mistaken for the forms below);
- for a mapping of parameters, ``{name=value,...}``: names sorted, ``None`` values dropped,
  sequences and sets of values treated as sets (sorted and deduplicated, so ``ids=[b, a]`` and
  ``ids=[a, b, a]`` give the same key), strings JSON-quoted, floats by ``repr`` (so ``1.0`` and
  ``1`` differ), bools as ``true``/``false`` (so ``True`` and ``1`` differ);
- ``#`` and a 128-bit blake2b digest of the above when that is longer than
  :data:`MAX_CANONICAL` characters, so keys stay short.

The encoding is injective: different parameters give different keys (up to the digest). The
namespace is free of ``:``, so :func:`namespace_of` reads it back. Bump ``version`` when the
shape of what a namespace caches changes: old entries are then simply never read again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Set
from typing import Any

import msgspec

__all__ = ["MAX_CANONICAL", "cache_key", "canonical", "is_namespace", "namespace_of"]

#: Canonical forms longer than this are replaced by ``#`` + a 32-hex-digit digest.
MAX_CANONICAL = 200

_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_RESERVED_FIRST = frozenset('"{[#')
_quote = msgspec.json.encode


def is_namespace(name: object) -> bool:
    """Whether ``name`` can name a namespace: letters, digits, ``_``, ``.`` or ``-``."""
    return isinstance(name, str) and _NAMESPACE.fullmatch(name) is not None


def cache_key(namespace: str, key_or_params: str | Mapping[str, Any], version: int = 1) -> str:
    """The store key of ``key_or_params`` in ``namespace``: ``v<version>:<namespace>:<canonical>``.

    ``key_or_params`` is a plain string key or a mapping of parameters (see the module
    docstring). Raises :class:`TypeError` for a value that has no canonical form, and
    :class:`ValueError` for a malformed namespace or version.
    """
    if not is_namespace(namespace):
        raise ValueError(
            f"namespace must be a non-empty string of letters, digits, '_', '.' or '-'; "
            f"got {namespace!r}"
        )
    if type(version) is not int or version < 1:
        raise ValueError(f"version must be an int >= 1, got {version!r}")
    return f"v{version}:{namespace}:{canonical(key_or_params)}"


def canonical(key_or_params: str | Mapping[str, Any]) -> str:
    """The ``<canonical>`` part of a key (digested when longer than :data:`MAX_CANONICAL`)."""
    if isinstance(key_or_params, str):
        form = key_or_params
        if form and form[0] in _RESERVED_FIRST:
            form = _quote(form).decode()
    elif isinstance(key_or_params, Mapping):
        form = _mapping(key_or_params)
    else:
        raise TypeError(
            f"a cache key is a str or a mapping of parameters, not {type(key_or_params).__name__}"
        )
    if len(form) > MAX_CANONICAL:
        return "#" + hashlib.blake2b(form.encode(), digest_size=16).hexdigest()
    return form


def namespace_of(key: str) -> str:
    """The namespace of a key made by :func:`cache_key`."""
    parts = key.split(":", 2)
    if len(parts) != 3 or not parts[0].startswith("v"):
        raise ValueError(f"not a cache key: {key!r}")
    return parts[1]


def _mapping(params: Mapping[Any, Any]) -> str:
    items = []
    for name, value in params.items():
        if value is None:
            continue
        encoded = _NAMES.get(name)
        if encoded is None:
            encoded = _name(name)
        items.append(f"{encoded}={_value(value)}")
    # Any order independent of the mapping's will do: sort the encoded items.
    items.sort()
    return "{" + ",".join(items) + "}"


def _name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"parameter names must be str, got {name!r}")
    encoded = name if _NAME.fullmatch(name) else _quote(name).decode()
    if len(_NAMES) < 1024:
        _NAMES[name] = encoded
    return encoded


#: Encoded parameter names seen so far (there are few distinct ones).
_NAMES: dict[str, str] = {}


def _str(value: str) -> str:
    return _quote(value).decode()


def _int(value: int) -> str:
    return str(int(value))


def _float(value: float) -> str:
    value = float(value)
    if value == 0.0:
        return "0.0"  # -0.0 == 0.0: one key
    return repr(value) if value == value else "nan"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _set(values: Iterable[Any]) -> str:
    # The common case, a set of plain string IDs: one C call encodes the sorted distinct values.
    try:
        distinct = set(values)
    except TypeError:  # unhashable items: the general path below
        distinct = set()
        distinct.add(_UNHASHABLE)
    distinct.discard(None)
    for item in distinct:
        if type(item) is not str:
            break
    else:
        return _quote(sorted(distinct)).decode()
    items = [item for item in values if item is not None]
    if all(isinstance(item, str) for item in items):  # str subclasses: same form as plain str
        return _quote(sorted({str.__str__(item) for item in items})).decode()
    return "[" + ",".join(sorted({_value(item) for item in items})) + "]"


_UNHASHABLE = object()


_EXACT: dict[type, Callable[[Any], str]] = {
    str: _str,
    int: _int,
    float: _float,
    bool: _bool,
    list: _set,
    tuple: _set,
    set: _set,
    frozenset: _set,
    dict: _mapping,
}


def _value(value: Any) -> str:
    encode = _EXACT.get(type(value))
    if encode is not None:
        return encode(value)
    # Subclasses. bool before int: bool is a subclass of int, and True must not equal 1 here.
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, str):
        return _str(str.__str__(value))
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        return _mapping(value)
    if isinstance(value, (list, tuple, Set)):
        return _set(value)
    raise TypeError(f"no canonical cache-key form for a {type(value).__name__}: {value!r}")
