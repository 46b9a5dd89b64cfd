"""Seeded, order-free randomness: every draw is a pure function of a random seed and a stable
identity.

Nothing here keeps state, so concurrent tasks can draw in any order and still see the same
values: a request's randomness comes from hashing (random seed, its identity), never from a shared
``random.Random`` whose sequence would depend on scheduling.
"""

from __future__ import annotations

import hashlib
import struct

__all__ = ["MASK64", "derive_key", "digest", "mix64", "unit"]

MASK64 = (1 << 64) - 1
_TWO_64 = float(1 << 64)
# A big-endian 64-bit slot read in place: int.from_bytes(key[start : start + 8], "big") without
# the slice (five draws a simulated request).
_SLOT = struct.Struct(">Q").unpack_from


def mix64(x: int) -> int:
    """SplitMix64's finaliser: a fast bijection on 64-bit integers that scatters nearby inputs."""
    x &= MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def derive_key(seed: int, label: str) -> int:
    """A 64-bit key for one purpose (``label``) under ``seed``; other labels give unrelated keys."""
    data = f"{seed}\x1f{label}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def digest(seed: int, identity: str) -> bytes:
    """48 bytes determined by (seed, identity): six independent 64-bit slots for :func:`unit`."""
    return hashlib.blake2b(f"{seed}\x1f{identity}".encode(), digest_size=48).digest()


def unit(key: bytes, slot: int) -> float:
    """A uniform float in [0, 1) from 64-bit slot ``slot`` (0..5) of a :func:`digest`."""
    return _SLOT(key, slot * 8)[0] / _TWO_64
