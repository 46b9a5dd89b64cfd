"""Recommendation parameters: audio-feature targets, validated against the documented ranges."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from engine import Config

__all__ = ["AudioTargets"]

Unit = Annotated[float, msgspec.Meta(ge=0, le=1)] | None


class AudioTargets(Config):
    """Targets for ``/v1/track/recommendation``; ``None`` means "no target"."""

    acousticness: Unit = None
    danceability: Unit = None
    energy: Unit = None
    instrumentalness: Unit = None
    liveness: Unit = None
    speechiness: Unit = None
    valence: Unit = None
    key: Annotated[int, msgspec.Meta(ge=-1, le=11)] | None = None
    loudness: Annotated[float, msgspec.Meta(ge=-60, le=2)] | None = None
    mode: Annotated[int, msgspec.Meta(ge=0, le=1)] | None = None
    tempo: Annotated[float, msgspec.Meta(ge=0, le=250)] | None = None
    popularity: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    feature_weight: Annotated[float, msgspec.Meta(ge=1, le=5)] | None = None

    def params(self) -> dict[str, Any]:
        """The query parameters, named as the API names them (``featureWeight``)."""
        out: dict[str, Any] = {}
        for field in msgspec.structs.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                out["featureWeight" if field.name == "feature_weight" else field.name] = value
        return out
