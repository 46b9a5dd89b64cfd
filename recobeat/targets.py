"""Recommendation parameters: audio-feature targets, validated against the documented ranges."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from engine import Config
from engine.config import struct_fields
from recobeat.contract import FEATURE_WEIGHT_RANGE, TARGET_RANGES

__all__ = ["AudioTargets"]

_RANGES = {name: (low, high, integer) for name, low, high, integer in TARGET_RANGES}


def _target(name: str) -> Any:
    """The type of target ``name``: its documented range (recobeat.contract), or None."""
    low, high, integer = _RANGES[name]
    return Annotated[int if integer else float, msgspec.Meta(ge=low, le=high)] | None


Unit = _target("energy")  # each of the seven 0..1 features
Key = _target("key")
Loudness = _target("loudness")
Mode = _target("mode")
Tempo = _target("tempo")
Popularity = _target("popularity")
FeatureWeight = (
    Annotated[float, msgspec.Meta(ge=FEATURE_WEIGHT_RANGE[0], le=FEATURE_WEIGHT_RANGE[1])] | None
)


class AudioTargets(Config):
    """Targets for ``/v1/track/recommendation``; ``None`` means "no target"."""

    acousticness: Unit = None
    danceability: Unit = None
    energy: Unit = None
    instrumentalness: Unit = None
    liveness: Unit = None
    speechiness: Unit = None
    valence: Unit = None
    key: Key = None
    loudness: Loudness = None
    mode: Mode = None
    tempo: Tempo = None
    popularity: Popularity = None
    feature_weight: FeatureWeight = None

    def params(self) -> dict[str, Any]:
        """The query parameters, named as the API names them (``featureWeight``)."""
        out: dict[str, Any] = {}
        for field in struct_fields(type(self)):
            value = getattr(self, field.name)
            if value is not None:
                out["featureWeight" if field.name == "feature_weight" else field.name] = value
        return out
