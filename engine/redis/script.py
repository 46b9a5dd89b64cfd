"""The Lua scripts of the shared tier on Redis, and the arguments and replies both adapters
(:class:`engine.redis.CoredisBackend`, :class:`engine.redis.RedisPyBackend`) pass and read.

The limiter's script: :func:`engine.shared.rate_decision.decide`, in Redis.

One ``EVALSHA`` per grant attempt, atomic. ``KEYS[1]`` holds the state as JSON
(``{"last": ms, "paused": ms, "logs": [[ms, ...], ...]}``, one log per rule, each trimmed to
its rule's limit). ``ARGV``: ``now_ms`` (``""`` reads the server's ``TIME``),
``min_interval_ms``, ``pause_ms``, the number of rules, ``limit, window_ms`` per rule, the number
of known grants, the known grants (epoch ms, as this script recorded them), then the ages in ms
of the caller's fallback grants (see :mod:`engine.shared.rate_decision` for what the script does
with them). Returns ``{granted (0/1), wait_ms, now_ms}``, integers only (Lua truncates returned
floats). The key's TTL (the longest window, or the pause, plus a second) only collects an idle
limiter's state.

Whatever the key holds, the script does not fail on it: a value of another type (``WRONGTYPE``),
one that is not JSON, or JSON of another shape is read as an empty state (each field and log
entry that is not a finite number of milliseconds is dropped), and the next write replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.shared.backend import RateDecision

__all__ = [
    "ADAPT_SCRIPT",
    "DELETE_IF_EQUAL",
    "DELETE_SCANNED",
    "EXTEND_IF_EQUAL",
    "RATE_SCRIPT",
    "adapt_args",
    "adapt_reply",
    "glob_escaped",
    "rate_args",
    "rate_reply",
    "scanned_reply",
]

# `redis.pcall`: a key holding another type (WRONGTYPE) does not hold the value, it is no error.
DELETE_IF_EQUAL = """
if redis.pcall('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

EXTEND_IF_EQUAL = """
if redis.pcall('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# One batch of a prefix's deletion: SCAN from the cursor, DEL what matched; {next cursor, count}.
DELETE_SCANNED = """
local scanned = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local keys = scanned[2]
local dropped = 0
if #keys > 0 then dropped = redis.call('DEL', unpack(keys)) end
return {scanned[1], dropped}
"""


def glob_escaped(text: str) -> str:
    """``text`` matched literally by a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\^-" else c for c in text)


def _text(reply: Any) -> str:
    """A script's string reply as text: the clients answer bytes (or ``str`` if they decode)."""
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def scanned_reply(reply: Any) -> tuple[str, int]:
    """:data:`DELETE_SCANNED`'s ``{next cursor, count}``: the cursor as text (``"0"``: done)."""
    cursor, count = reply
    return _text(cursor), int(count)


# Both scripts read "now" alike: ARGV[1] in epoch milliseconds, or "" for the server's TIME.
_NOW = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
"""

RATE_SCRIPT = (
    _NOW
    + """
local interval = tonumber(ARGV[2])
local pause = tonumber(ARGV[3])
local nrules = tonumber(ARGV[4])
local base = 4 + 2 * nrules
local nknown = tonumber(ARGV[base + 1])
local known = {}
for j = base + 2, base + 1 + nknown do known[#known + 1] = tonumber(ARGV[j]) end
local fallback = {}
for j = base + 2 + nknown, #ARGV do fallback[#fallback + 1] = now - tonumber(ARGV[j]) + 1 end

-- The state, read defensively: only finite numbers of milliseconds are kept.
local function ms(v)
  if type(v) == 'number' and v == v and v > -1e15 and v < 1e15 then return v end
  return nil
end
local decoded = nil
local raw = redis.pcall('GET', KEYS[1])
if type(raw) == 'string' then
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then decoded = value end
end
local state = {}
local logs = {}
if decoded ~= nil then
  state.last = ms(decoded.last)
  state.paused = ms(decoded.paused)
  if type(decoded.logs) == 'table' then
    for i = 1, nrules do
      local clean = {}
      local log = decoded.logs[i]
      if type(log) == 'table' then
        for _, t in ipairs(log) do
          if ms(t) ~= nil then clean[#clean + 1] = t end
        end
      end
      logs[i] = clean
    end
  end
end
for i = 1, nrules do logs[i] = logs[i] or {} end

local changed = false
if pause > 0 and (state.paused == nil or state.paused < now + pause) then
  state.paused = now + pause
end

-- The caller's grants the state may not hold (see engine.shared.rate_decision).
if nknown > 0 or #fallback > 0 then
  for i = 1, nrules do
    local limit = tonumber(ARGV[3 + 2 * i])
    local since = now - tonumber(ARGV[4 + 2 * i])
    local log = logs[i]
    local present = {}
    for _, t in ipairs(log) do present[t] = (present[t] or 0) + 1 end
    local full_from = nil
    if #log >= limit then full_from = log[1] end
    local added = false
    for _, t in ipairs(known) do
      if t > since then
        local n = present[t]
        if n ~= nil and n > 0 then
          present[t] = n - 1
        elseif full_from == nil or t >= full_from then
          log[#log + 1] = t
          added = true
        end
      end
    end
    for _, t in ipairs(fallback) do
      if t > since then
        log[#log + 1] = t
        added = true
      end
    end
    if added then
      changed = true
      table.sort(log)
      while #log > limit do table.remove(log, 1) end
    end
  end
  for _, t in ipairs(fallback) do
    if state.last == nil or t > state.last then
      state.last = t
      changed = true
    end
  end
  for _, t in ipairs(known) do
    if t > now - interval and (state.last == nil or t > state.last) then
      state.last = t
      changed = true
    end
  end
end

local at = now
if state.last ~= nil and state.last + interval > at then at = state.last + interval end
if state.paused ~= nil and state.paused > at then at = state.paused end
local longest = interval
for i = 1, nrules do
  local limit = tonumber(ARGV[3 + 2 * i])
  local window = tonumber(ARGV[4 + 2 * i])
  local log = logs[i]
  if #log >= limit and log[#log - limit + 1] + window > at then
    at = log[#log - limit + 1] + window
  end
  if window > longest then longest = window end
end
local granted = 0
if at <= now then
  granted = 1
  -- now is the time floored to the millisecond; the grant is recorded 1 ms later so that the
  -- rules hold exactly for the real instants, whatever fraction of a millisecond was dropped.
  state.last = now + 1
  for i = 1, nrules do
    local limit = tonumber(ARGV[3 + 2 * i])
    local log = logs[i]
    log[#log + 1] = now + 1
    while #log > limit do table.remove(log, 1) end
  end
end
if granted == 1 or pause > 0 or changed then
  state.logs = logs
  local ttl = longest + 1000
  if state.paused ~= nil and state.paused - now + 1000 > ttl then
    ttl = state.paused - now + 1000
  end
  redis.call('SET', KEYS[1], cjson.encode(state), 'PX', ttl)
end
return {granted, at - now, now}
"""
)


#: The shared adapted rate (:func:`engine.shared.rate_adapt.adapt`, in Redis). ``KEYS[1]`` holds
#: ``{"scale": s, "hold": ms}`` as JSON; ``ARGV``: ``now_ms`` (``""`` reads ``TIME``), ``increase``,
#: ``decrease_to`` (``""``: none), ``floor``, ``ceiling``, ``hold_ms``, ``ttl_ms`` (of the key).
#: Returns the scale as a string (Lua truncates returned floats). A value that is not such JSON is
#: read as no state.
ADAPT_SCRIPT = (
    _NOW
    + """
local increase = tonumber(ARGV[2])
local decrease_to = nil
if ARGV[3] ~= '' then decrease_to = tonumber(ARGV[3]) end
local floor = tonumber(ARGV[4])
local ceiling = tonumber(ARGV[5])
local hold_ms = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])

local function finite(v)
  return type(v) == 'number' and v == v and v > -1e15 and v < 1e15
end
local scale = 1.0
local hold = nil
local raw = redis.pcall('GET', KEYS[1])
if type(raw) == 'string' then
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then
    if finite(value.scale) then scale = value.scale end
    if finite(value.hold) then hold = value.hold end
  end
end
scale = math.min(math.max(scale, floor), ceiling)
if increase > 0 then scale = math.min(scale + increase, ceiling) end
if decrease_to ~= nil and (hold == nil or now >= hold) then
  scale = math.max(math.min(scale, decrease_to), floor)
  hold = now + hold_ms
end
local state = {scale = scale}
if hold ~= nil then state.hold = hold end
redis.pcall('DEL', KEYS[1])
redis.call('SET', KEYS[1], cjson.encode(state), 'PX', ttl)
return string.format('%.17g', scale)
"""
)


def rate_args(
    *,
    now_ms: int | None,
    min_interval_ms: int,
    pause_ms: int,
    rules: Sequence[tuple[int, int]],
    known_ms: Sequence[int] = (),
    ages_ms: Sequence[int] = (),
) -> list[Any]:
    """:data:`RATE_SCRIPT`'s ``ARGV`` (the arguments of ``SharedBackend.rate_decide``)."""
    args: list[Any] = ["" if now_ms is None else now_ms, min_interval_ms, pause_ms, len(rules)]
    for limit, window_ms in rules:
        args += [limit, window_ms]
    args.append(len(known_ms))
    args += known_ms
    args += ages_ms
    return args


def rate_reply(reply: Any) -> RateDecision:
    """:data:`RATE_SCRIPT`'s ``{granted, wait_ms, now_ms}``."""
    granted, wait_ms, now = reply
    return RateDecision(granted=bool(granted), wait_ms=int(wait_ms), now_ms=int(now))


def adapt_args(
    *,
    now_ms: int | None,
    increase: float,
    decrease_to: float | None,
    floor: float,
    ceiling: float,
    hold_ms: int,
    ttl_ms: int,
) -> list[Any]:
    """:data:`ADAPT_SCRIPT`'s ``ARGV`` (the arguments of ``SharedBackend.rate_adapt``); floats
    as ``repr``, which round-trips exactly."""
    return [
        "" if now_ms is None else now_ms,
        repr(float(increase)),
        "" if decrease_to is None else repr(float(decrease_to)),
        repr(float(floor)),
        repr(float(ceiling)),
        hold_ms,
        ttl_ms,
    ]


def adapt_reply(reply: Any) -> float:
    """:data:`ADAPT_SCRIPT`'s scale, a string (``%.17g``) as bytes or text."""
    return float(_text(reply))
