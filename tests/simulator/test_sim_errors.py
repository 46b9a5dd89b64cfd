"""Error responses as the live API sends them: the body's shape and codes, the validation rules
behind the 400s, and how the client reads the message back (``recobeat.client._error_message``)."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec
import pytest

from recobeat.client import _error_message
from recobeat.transport import WireResponse
from simulator import (
    Catalog,
    EndpointProfile,
    FaultRates,
    LatencyModel,
    PenaltyBox,
    RateLimitConfig,
    RateLimitRule,
    RecoBeatApi,
    Request,
)
from simulator.upstream.faults import Fault
from simulator.upstream.messages import error_code, error_response, reason_phrase

RECOMMENDATION = "/v1/track/recommendation"


@pytest.fixture(scope="module")
def api(catalog: Catalog) -> RecoBeatApi:
    return RecoBeatApi(catalog)


def error(api: RecoBeatApi, path: str, params: object = (), method: str = "GET") -> tuple:
    """(HTTP status, body status, the one message) of an error response."""
    response = api.handle(Request(method, path, urlencode(params, doseq=True)))  # type: ignore[arg-type]
    assert response.headers[0] == ("content-type", "application/json")
    body = msgspec.json.decode(response.body)
    assert set(body) == {"status", "errors"}
    [only] = body["errors"]
    assert set(only) == {"message"} and isinstance(only["message"], str)
    return response.status, body["status"], only["message"]


def test_the_observed_body_is_reproduced_for_41_ids(api: RecoBeatApi, catalog: Catalog) -> None:
    ids = [catalog.spotify_id(i) for i in range(41)]
    status, code, message = error(api, "/v1/track", {"ids": ids})
    assert (status, code) == (400, 4004)
    assert message == "ids: size must be between 1 and 40, got 41"


def test_codes_are_the_http_status_times_ten_plus_a_detail_digit(
    api: RecoBeatApi, catalog: Catalog
) -> None:
    assert error(api, "/v1/nothing")[:2] == (404, 4040)
    assert error(api, "/v1/track", {"ids": "x"}, method="POST")[:2] == (405, 4050)
    unknown = catalog.unknown_spotify_id(4)
    assert error(api, f"/v1/track/{unknown}/audio-features") == (
        404,
        4040,
        f"Track {unknown} not found",
    )
    assert error_code(503) == 5030 and error_code(429, 1) == 4291
    with pytest.raises(ValueError, match="digit"):
        error_code(400, 10)
    assert reason_phrase(429) == "Too Many Requests" and reason_phrase(599) == ""


def test_error_response_keeps_extra_headers_after_the_content_type() -> None:
    response = error_response(429, "slow down", headers=(("retry-after", "3"),))
    assert response.headers == (("content-type", "application/json"), ("retry-after", "3"))
    assert msgspec.json.decode(response.body) == {
        "status": 4290,
        "errors": [{"message": "slow down"}],
    }


@pytest.mark.anyio
async def test_429_blocked_and_5xx_bodies(make_simulator) -> None:  # type: ignore[no-untyped-def]
    limits = RateLimitConfig(
        rules=[RateLimitRule(1, 10.0)],
        penalty_box=PenaltyBox(strikes=1, block=30.0, grace=0.0),
        rejection_latency=0.0,
    )
    sim = make_simulator(rate_limit=limits)
    track = Request("GET", "/v1/track", f"ids={sim.catalog.spotify_id(1)}", peer="c")
    codes = []
    for _ in range(3):
        exchange = await sim.exchange(track)
        assert exchange.response is not None
        codes.append((exchange.response.status, msgspec.json.decode(exchange.response.body)))
    assert [(s, b.get("status")) for s, b in codes] == [(200, None), (429, 4290), (429, 4291)]
    assert codes[2][1]["errors"][0]["message"] == "Rate limit exceeded; retry after 30.000 s"

    failing = EndpointProfile(latency=LatencyModel(0.0, 0.0), faults=FaultRates(error=1.0))
    sim = make_simulator(service=failing)
    exchange = await sim.exchange(track)
    assert exchange.fault is Fault.ERROR and exchange.response is not None
    body = msgspec.json.decode(exchange.response.body)
    assert body == {
        "status": exchange.response.status * 10,
        "errors": [{"message": "Simulated server error"}],
    }


# validation ------------------------------------------------------------------------------------
def seeds(catalog: Catalog, *ranks: int) -> list[str]:
    return [catalog.spotify_id(r) for r in ranks]


def test_negative_seeds_one_to_five_when_given(api: RecoBeatApi, catalog: Catalog) -> None:
    base = {"size": 10, "seeds": seeds(catalog, 1, 2)}
    assert error_or_ok(api, RECOMMENDATION, base) == 200
    assert error_or_ok(api, RECOMMENDATION, {**base, "negativeSeeds": seeds(catalog, 3)}) == 200
    five = seeds(catalog, 3, 4, 5, 6, 7)
    assert error_or_ok(api, RECOMMENDATION, {**base, "negativeSeeds": five}) == 200
    six = {**base, "negativeSeeds": [*five, catalog.spotify_id(8)]}
    assert error(api, RECOMMENDATION, six) == (
        400,
        4004,
        "negativeSeeds: size must be between 1 and 5, got 6",
    )
    for empty in ("", ","):  # given, but with no ID
        status, code, message = error(api, RECOMMENDATION, {**base, "negativeSeeds": empty})
        assert (status, code) == (400, 4004)
        assert message == "negativeSeeds: size must be between 1 and 5, got 0"


def test_an_id_in_both_seeds_and_negative_seeds_is_a_400(
    api: RecoBeatApi, catalog: Catalog
) -> None:
    both = catalog.spotify_id(2)
    params = {"size": 10, "seeds": seeds(catalog, 1, 2), "negativeSeeds": seeds(catalog, 3, 2)}
    assert error(api, RECOMMENDATION, params) == (
        400,
        4004,
        f"negativeSeeds: {both!r} is also in seeds",
    )
    comma = {**params, "seeds": ",".join(params["seeds"])}  # type: ignore[arg-type]
    assert error(api, RECOMMENDATION, comma)[:2] == (400, 4004)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/track/{}/audio-features",
        "/v1/artist/{}/track",
        "/v1/artist/{}/album",
        "/v1/album/{}/track",
    ],
)
@pytest.mark.parametrize("bad", ["not-an-id", "x" * 21, "0" * 36, "!" * 22])
def test_malformed_path_ids_are_400s(api: RecoBeatApi, path: str, bad: str) -> None:
    assert error(api, path.format(bad)) == (400, 4004, f"id: malformed ID {bad!r}")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/track", "ids"),
        ("/v1/audio-features", "ids"),
        ("/v1/artist", "ids"),
        ("/v1/album", "ids"),
        (RECOMMENDATION, "seeds"),
        (RECOMMENDATION, "negativeSeeds"),
    ],
)
def test_malformed_ids_in_lists_are_400s(
    api: RecoBeatApi, catalog: Catalog, path: str, name: str
) -> None:
    params: dict[str, object] = {"size": 5, "seeds": seeds(catalog, 1)}
    params[name] = [catalog.spotify_id(9), "spotify:track:nope"]
    assert error(api, path, params) == (400, 4004, f"{name}: malformed ID 'spotify:track:nope'")


def error_or_ok(api: RecoBeatApi, path: str, params: object) -> int:
    return api.handle(Request("GET", path, urlencode(params, doseq=True))).status  # type: ignore[arg-type]


# the client reads the message back -------------------------------------------------------------
def response(content: bytes | str, status: int = 400) -> WireResponse:
    data = content.encode() if isinstance(content, str) else content
    return WireResponse(status, {}, data)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '{"status": 4004, "errors": [{"message": "size must be between 1 and 40"}]}',
            "size must be between 1 and 40",
        ),
        ('{"status": 4004, "errors": [{"message": "first"}, {"message": "second"}]}', "first"),
        ('{"errors": [], "message": "top-level"}', "top-level"),
        ('{"errors": [{"code": 1}], "message": "top-level"}', "top-level"),
        ('{"errors": [{"message": "  "}], "error": "Bad Request"}', "Bad Request"),
        ('{"errors": "nope", "message": 12, "error": "Bad Request"}', "Bad Request"),
        ('{"status": 400, "error": "Bad Request", "message": "spring"}', "spring"),
        ('{"status": 400}', '{"status": 400}'),
        ('["a list"]', '["a list"]'),
        ("plain text\r\nover two lines\t ", "plain text over two lines"),
        ("", ""),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
    ],
)
def test_client_reads_errors_first_then_message_then_error_then_text(
    body: str | bytes, message: str
) -> None:
    assert _error_message(response(body)) == message


def test_client_message_is_one_bounded_line() -> None:
    long = "word " * 100
    for body in (long, msgspec.json.encode({"errors": [{"message": long + "\n" + long}]})):
        text = _error_message(response(body))
        assert len(text) == 200 and "\n" not in text and text.endswith("\u2026")
    assert _error_message(response("x" * 200)) == "x" * 200


def test_client_reads_every_simulator_error(api: RecoBeatApi, catalog: Catalog) -> None:
    ids = [catalog.spotify_id(i) for i in range(41)]
    sent = api.handle(Request("GET", "/v1/track", urlencode({"ids": ids}, doseq=True)))
    assert _error_message(response(sent.body)) == "ids: size must be between 1 and 40, got 41"
    unknown = api.handle(Request("GET", "/v1/nothing"))
    assert _error_message(response(unknown.body, 404)) == "No endpoint GET /v1/nothing"
