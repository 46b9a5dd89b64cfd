"""Objects held by the thousand in caches and memos are not tracked by the garbage collector:
each full collection would walk them all (an eighth of a saturated replay's time did)."""

from __future__ import annotations

import gc

import msgspec

from recobeat.models import Content, Page, Track
from simulator.upstream.messages import Request, Response
from simulator.upstream.recommend import RecommendationQuery
from tests.samples import ARTIST, FEATURES, TRACK


def test_wire_models_and_simulator_messages_are_untracked() -> None:
    # Each holds a container (a tuple), which would make a default msgspec struct tracked.
    objects = [
        ARTIST,
        TRACK,
        FEATURES,
        Content(content=(TRACK,)),
        Page(content=(ARTIST,), page=0, size=1, total_elements=1, total_pages=1),
        RecommendationQuery(seeds=tuple(range(2)), size=20, targets=(("energy", 0.5),)),
        Request("GET", "/v1/track", headers=tuple(zip(["x-client-id"], ["backend"], strict=True))),
        Response(200, tuple(zip(["content-type"], ["application/json"], strict=True)), b"{}"),
    ]
    assert [type(o).__name__ for o in objects if gc.is_tracked(o)] == []


def test_decoded_tracks_are_untracked() -> None:
    body = msgspec.json.encode(Content(content=(TRACK,)))
    decoded = msgspec.json.decode(body, type=Content[Track])
    assert decoded.content == (TRACK,)
    assert not gc.is_tracked(decoded)
    assert not gc.is_tracked(decoded.content[0])
