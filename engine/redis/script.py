"""The shared limiter's Lua script: :func:`engine.shared.rate_decision.decide`, in Redis.

One ``EVALSHA`` per grant attempt, atomic. ``KEYS[1]`` holds the state as JSON
(``{"last": ms, "paused": ms, "logs": [[ms, ...], ...]}``, one log per rule, each trimmed to
its rule's limit). ``ARGV``: ``now_ms`` (``""`` reads the server's ``TIME``),
``min_interval_ms``, ``pause_ms``, then ``limit, window_ms`` per rule. Returns
``{granted (0/1), wait_ms, now_ms}``, integers only (Lua truncates returned floats). The key's
TTL (the longest window, or the pause, plus a second) only collects an idle limiter's state.
"""

from __future__ import annotations

__all__ = ["RATE_SCRIPT"]

RATE_SCRIPT = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local interval = tonumber(ARGV[2])
local pause = tonumber(ARGV[3])
local nrules = (#ARGV - 3) / 2
local state = {}
local raw = redis.call('GET', KEYS[1])
if raw then state = cjson.decode(raw) end
local logs = state.logs or {}
if pause > 0 and (state.paused == nil or state.paused < now + pause) then
  state.paused = now + pause
end
local at = now
if state.last ~= nil and state.last + interval > at then at = state.last + interval end
if state.paused ~= nil and state.paused > at then at = state.paused end
local longest = interval
for i = 1, nrules do
  local limit = tonumber(ARGV[2 + 2 * i])
  local window = tonumber(ARGV[3 + 2 * i])
  local log = logs[i] or {}
  logs[i] = log
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
    local limit = tonumber(ARGV[2 + 2 * i])
    local log = logs[i]
    log[#log + 1] = now + 1
    while #log > limit do table.remove(log, 1) end
  end
end
if granted == 1 or pause > 0 then
  state.logs = logs
  local ttl = longest + 1000
  if state.paused ~= nil and state.paused - now + 1000 > ttl then
    ttl = state.paused - now + 1000
  end
  redis.call('SET', KEYS[1], cjson.encode(state), 'PX', ttl)
end
return {granted, at - now, now}
"""
