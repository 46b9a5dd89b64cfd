"""Seeded bijections between catalog indices and identifiers.

An entity's identifiers encode its index: a keyed Feistel network scrambles the index into the
leading 48 bits and a keyed tag fills the rest. Decoding inverts the network and re-derives the
tag, so an identifier maps back to its entity without any table, and a well-formed identifier
that was not issued under this key (a "foreign" one) is recognised as unknown (false positives
have probability 2**-80).

Beyond the catalog lies the open space (:class:`OpenIds`): every value below 2**128 is a Spotify
ID (its 22 base-62 digits, as real Spotify IDs are) and, through a keyed 128-bit Feistel
permutation, a UUID, so either form maps to the other with no table. :class:`TextIds` packs a
short search text and a variant number into such a value, so an artist derived from a search
text can be looked up by ID later, by any process with the same seed.
"""

from __future__ import annotations

from recobeat.ids import is_reccobeats_id
from simulator.upstream.seeded import MASK64, derive_key, mix64

__all__ = [
    "OPEN_SPACE",
    "EntityIds",
    "Feistel",
    "IndexPermutation",
    "OpenIds",
    "TextIds",
    "hash128",
    "normalise_text",
    "spotify_text",
    "spotify_value",
]

#: Spotify's base-62 digits: lower case before upper case.
_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BASE62_VALUE = {c: i for i, c in enumerate(_BASE62)}
_INDEX_BITS = 48
_TAG_BITS = 80
_ROUNDS = 4
#: Spotify IDs are the base-62 digits of a value below this; a 22-digit ID at or above it is not.
OPEN_SPACE = 1 << 128


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


def hash128(key: int, value: int) -> int:
    """A keyed 64-bit hash of a value below 2**128."""
    return mix64(mix64(key ^ (value >> 64)) ^ (value & MASK64))


def spotify_value(identifier: str) -> int | None:
    """The value a 22-character Spotify ID spells in base 62; None if it is malformed or not
    below 2**128 (no real Spotify ID is)."""
    if len(identifier) != 22:
        return None
    value = _base62_value(identifier)
    if value is None or value >= OPEN_SPACE:
        return None
    return value


def spotify_text(value: int) -> str:
    """The Spotify ID of a value below 2**128 (22 base-62 digits, leading zeros kept)."""
    return _base62(value)


class OpenIds:
    """The open space of one kind of entity: the value ``v`` (0 <= v < 2**128) is the Spotify ID
    ``spotify_id(v)`` and the UUID ``uuid(v)`` (a keyed 128-bit Feistel permutation of ``v``, all
    128 bits, so not necessarily of version 4). ``value_of`` maps either back to ``v``."""

    __slots__ = ("_feistel",)

    def __init__(self, seed: int, kind: str) -> None:
        self._feistel = Feistel(derive_key(seed, f"{kind}/open-uuid"), 128)

    def uuid(self, value: int) -> str:
        h = f"{self._feistel.encrypt(value):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def spotify_id(self, value: int) -> str:
        return _base62(value)

    def value_of(self, identifier: str) -> int | None:
        """The value of a UUID or Spotify ID; None if malformed, or a Spotify ID >= 2**128."""
        if len(identifier) == 36:
            if not is_reccobeats_id(identifier):
                return None
            return self._feistel.decrypt(int(identifier.replace("-", ""), 16))
        return spotify_value(identifier)


# TextIds: a search text packed into an open-space value.
_TEXT_ALPHABET = " abcdefghijklmnopqrstuvwxyz0123456789'&.-"
_TEXT_DIGIT = {c: i + 1 for i, c in enumerate(_TEXT_ALPHABET)}
_PAYLOAD_BITS = 108
_VARIANT_BITS = 4
_REST_BITS = 1 + _VARIANT_BITS + _PAYLOAD_BITS  # mode, variant, payload
_TEXT_TAG_BITS = 128 - _REST_BITS


def normalise_text(text: str) -> str:
    """Search text as it is matched: lower case, whitespace runs as one space, trimmed."""
    return " ".join(text.lower().split())


class TextIds:
    """Values that carry a normalised text and a variant (0..15): a keyed 128-bit Feistel
    permutation of ``tag (15 bits) | mode (1) | variant (4) | payload (108)``. The payload is
    the text in bijective base 41 over ``[ a-z0-9'&.-]`` (mode 0, up to 20 characters), else its
    UTF-8 bytes in bijective base 256 (mode 1, up to 13 bytes); a longer text does not fit
    (``value`` is None). ``decode`` accepts a value only if its keyed tag matches and it is the
    canonical encoding of what it decodes to, so about one random value in 2**16 passes."""

    __slots__ = ("_feistel", "_tag_key")

    VARIANTS = 1 << _VARIANT_BITS

    def __init__(self, seed: int, kind: str) -> None:
        self._feistel = Feistel(derive_key(seed, f"{kind}/text"), 128)
        self._tag_key = derive_key(seed, f"{kind}/text-tag")

    def value(self, text: str, variant: int) -> int | None:
        """The value for ``normalise_text(text)`` and ``variant``; None if the text is empty
        or does not fit."""
        text = normalise_text(text)
        if not text or not 0 <= variant < self.VARIANTS:
            return None
        payload = 0
        if all(c in _TEXT_DIGIT for c in text):
            mode = 0
            for c in text:
                payload = payload * 41 + _TEXT_DIGIT[c]
        else:
            mode = 1
            for b in text.encode():
                payload = payload * 256 + b + 1
        if payload >> _PAYLOAD_BITS:
            return None
        rest = (mode << (_REST_BITS - 1)) | (variant << _PAYLOAD_BITS) | payload
        tag = hash128(self._tag_key, rest) & ((1 << _TEXT_TAG_BITS) - 1)
        return self._feistel.encrypt((tag << _REST_BITS) | rest)

    def decode(self, value: int) -> tuple[str, int] | None:
        """(text, variant) if ``value`` was issued by :meth:`value`, else None."""
        plain = self._feistel.decrypt(value)
        rest = plain & ((1 << _REST_BITS) - 1)
        if plain >> _REST_BITS != hash128(self._tag_key, rest) & ((1 << _TEXT_TAG_BITS) - 1):
            return None
        variant = (rest >> _PAYLOAD_BITS) & (self.VARIANTS - 1)
        payload = rest & ((1 << _PAYLOAD_BITS) - 1)
        if rest >> (_REST_BITS - 1):
            data = bytearray()
            while payload:
                payload, r = divmod(payload - 1, 256)
                data.append(r)
            try:
                text = bytes(reversed(data)).decode()
            except UnicodeDecodeError:
                return None
        else:
            chars = []
            while payload:
                payload, r = divmod(payload - 1, 41)
                chars.append(_TEXT_ALPHABET[r])
            text = "".join(reversed(chars))
        if self.value(text, variant) != value:
            return None
        return text, variant


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
