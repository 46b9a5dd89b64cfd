"""Seeded bijections between catalog indices and identifiers.

An entity's identifiers encode its index: a keyed Feistel network scrambles the index into the
leading 48 bits and a keyed tag fills the rest. Decoding inverts the network and re-derives the
tag, so an identifier maps back to its entity without any table, and a well-formed identifier
that was not issued under this key (a "foreign" one) is recognised as unknown (false positives
have probability 2**-80).
"""

from __future__ import annotations

from recobeat.ids import is_reccobeats_id
from simulator.upstream.seeded import MASK64, derive_key, mix64

__all__ = ["EntityIds", "Feistel", "IndexPermutation"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_VALUE = {c: i for i, c in enumerate(_BASE62)}
_INDEX_BITS = 48
_TAG_BITS = 80
_ROUNDS = 4


class Feistel:
    """A keyed permutation of ``range(2**bits)`` (``bits`` even) with its inverse."""

    __slots__ = ("_half", "_keys", "_mask")

    def __init__(self, key: int, bits: int) -> None:
        if bits <= 0 or bits % 2:
            raise ValueError(f"bits must be a positive even number, not {bits}")
        self._half = bits // 2
        self._mask = (1 << self._half) - 1
        self._keys = tuple(mix64(key + r + 1) for r in range(_ROUNDS))

    def encrypt(self, x: int) -> int:
        half, mask = self._half, self._mask
        left, right = x >> half, x & mask
        for k in self._keys:
            left, right = right, left ^ (mix64(right ^ k) & mask)
        return (left << half) | right

    def decrypt(self, y: int) -> int:
        half, mask = self._half, self._mask
        left, right = y >> half, y & mask
        for k in reversed(self._keys):
            left, right = right ^ (mix64(left ^ k) & mask), left
        return (left << half) | right


class IndexPermutation:
    """A keyed permutation of ``range(n)`` (Feistel network with cycle walking)."""

    __slots__ = ("_feistel", "n")

    def __init__(self, key: int, n: int) -> None:
        if n <= 0:
            raise ValueError(f"n must be positive, not {n}")
        bits = max(2, (n - 1).bit_length())
        self._feistel = Feistel(key, bits + bits % 2)
        self.n = n

    def forward(self, x: int) -> int:
        y = self._feistel.encrypt(x)
        while y >= self.n:
            y = self._feistel.encrypt(y)
        return y

    def inverse(self, y: int) -> int:
        x = self._feistel.decrypt(y)
        while x >= self.n:
            x = self._feistel.decrypt(x)
        return x


class EntityIds:
    """ReccoBeats UUIDs and Spotify IDs for the entities ``0 .. count-1`` of one kind.

    ``uuid(i)`` and ``spotify_id(i)`` are distinct for distinct ``i``; ``index_of`` maps either
    back to ``i`` and returns ``None`` for anything else (malformed, foreign, out of range).
    ``foreign_spotify_id(n)`` gives well-formed Spotify IDs that ``index_of`` never accepts.
    """

    __slots__ = ("_count", "_feistel", "_foreign", "_tag_key", "_uuid_tag_key")

    def __init__(self, seed: int, kind: str, count: int) -> None:
        if not 0 < count < 1 << _INDEX_BITS:
            raise ValueError(f"count must be in 1..2**{_INDEX_BITS}-1, not {count}")
        self._count = count
        self._feistel = Feistel(derive_key(seed, f"{kind}/index"), _INDEX_BITS)
        self._tag_key = derive_key(seed, f"{kind}/spotify-tag")
        self._uuid_tag_key = derive_key(seed, f"{kind}/uuid-tag")
        self._foreign = Feistel(derive_key(seed, f"{kind}/foreign"), _INDEX_BITS)

    def _value(self, scrambled: int, tag_key: int, n: int) -> int:
        tag = (mix64(tag_key ^ n) << 16) | (mix64(tag_key + n) & 0xFFFF)
        return (scrambled << _TAG_BITS) | (tag & ((1 << _TAG_BITS) - 1))

    def uuid(self, index: int) -> str:
        v = self._value(self._feistel.encrypt(index), self._uuid_tag_key, index)
        # Version 4, RFC 4122 variant.
        v = (v & ~(0xF << 76)) | (4 << 76)
        v = (v & ~(0x3 << 62)) | (0x2 << 62)
        h = f"{v:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def spotify_id(self, index: int) -> str:
        return _base62(self._value(self._feistel.encrypt(index), self._tag_key, index))

    def foreign_spotify_id(self, n: int) -> str:
        return _base62(self._value(self._foreign.encrypt(n), self._tag_key ^ MASK64, n))

    def index_of(self, identifier: str) -> int | None:
        if len(identifier) == 36:
            if not is_reccobeats_id(identifier):
                return None
            index = self._feistel.decrypt(int(identifier.replace("-", ""), 16) >> _TAG_BITS)
            if index < self._count and self.uuid(index) == identifier.lower():
                return index
            return None
        if len(identifier) == 22:
            value = _base62_value(identifier)
            if value is None or value >> 128:
                return None
            index = self._feistel.decrypt(value >> _TAG_BITS)
            if index < self._count and self.spotify_id(index) == identifier:
                return index
        return None


def _base62(value: int) -> str:
    chars = []
    for _ in range(22):
        value, r = divmod(value, 62)
        chars.append(_BASE62[r])
    return "".join(reversed(chars))


def _base62_value(text: str) -> int | None:
    value = 0
    for c in text:
        digit = _BASE62_VALUE.get(c)
        if digit is None:
            return None
        value = value * 62 + digit
    return value
