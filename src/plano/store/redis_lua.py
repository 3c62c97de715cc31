"""The Lua scripts of the Redis counters and topics: each operation is one ``EVALSHA``, atomic on
the server, timed by the server's clock (``TIME``), so the hosts' clocks never disagree.

Layout of one counter key ``K`` (under the store's prefix)::

    c:K   hash   u = used, x = when u expires (epoch s; absent: never), h = held (sum),
                 r:<rid> = amount held by reservation <rid>
    e:K   zset   <rid> scored by the reservation's expiry (epoch s)
    d:<rid>      string, a settled or released reservation (SET NX PX: idempotency)
    w:K   hash   sliding window: field = fixed-bucket index, value = amount admitted in it

A reservation's hold is a hash field plus a zset entry on each of its keys; a script that
touches ``K`` first drops the holds whose expiry passed (``ZRANGEBYSCORE e:K -inf now``), so
a holder that died frees its budget by ``expires_at`` without any sweeper. ``h`` is a running
sum (``HINCRBYFLOAT``), removed when the last hold goes so float drift cannot accumulate.
``u`` expires lazily (a script seeing ``x <= now`` resets it); ``PEXPIRE`` on ``c:K``/``e:K``
only reclaims memory, set to the later of ``x`` and the last hold's expiry (plus 1 s), or
removed while ``u`` has no expiry. The window script is :func:`plano.store.common.window_decide`
transcribed (``WINDOWS``: several keys in one call). Numbers cross the Lua boundary as strings
formatted ``%.17g`` (Lua's own conversion keeps 14 digits).

All keys a script touches are passed in ``KEYS``; on Redis Cluster, a prefix with a hash tag
(``{plano}:``) keeps them in one slot.
"""

from __future__ import annotations

__all__ = ["ADD", "CLAIM", "FINISH", "GET", "RESERVE", "WINDOW", "WINDOWS"]

_PRELUDE = """
local EPS = 1e-9
local function fmt(x) return string.format('%.17g', x) end
local function ms(s) return math.max(1000, math.ceil(s * 1000) + 1000) end
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fits(used, held, amount, limit)
  return used + held + amount <= limit + EPS * math.max(1, math.abs(limit))
end
local function unhold(c, rid)
  local f = 'r:' .. rid
  local a = redis.call('HGET', c, f)
  if a then
    redis.call('HDEL', c, f)
    redis.call('HINCRBYFLOAT', c, 'h', fmt(-tonumber(a)))
  end
end
local function purge(c, e, now)
  local ids = redis.call('ZRANGEBYSCORE', e, '-inf', fmt(now))
  if #ids == 0 then return end
  for _, rid in ipairs(ids) do unhold(c, rid) end
  redis.call('ZREMRANGEBYSCORE', e, '-inf', fmt(now))
  if redis.call('ZCARD', e) == 0 then redis.call('HDEL', c, 'h') end
end
-- used, held, when used expires (or false), whether used exists; an expired used restarts at 0
local function state(c, now)
  local v = redis.call('HMGET', c, 'u', 'x', 'h')
  local held = tonumber(v[3] or '0')
  if v[2] and tonumber(v[2]) <= now then
    redis.call('HDEL', c, 'u', 'x')
    return 0, held, false, false
  end
  return tonumber(v[1] or '0'), held, v[2] and tonumber(v[2]), v[1] ~= false
end
-- memory only: c:K and e:K expire after the later of x and the last hold (+1 s); a used amount
-- without expiry keeps c:K. h goes with the last hold, so float drift never outlives the holds.
local function gc(c, e, now, has_u, x)
  local last = redis.call('ZRANGE', e, -1, -1, 'WITHSCORES')
  local till = x or 0
  if last[2] then
    local h = tonumber(last[2])
    redis.call('PEXPIRE', e, ms(h - now))
    if h > till then till = h end
  else
    redis.call('HDEL', c, 'h')
  end
  if has_u and not x then
    redis.call('PERSIST', c)
  elseif till > now then
    redis.call('PEXPIRE', c, ms(till - now))
  end
end
"""

#: KEYS: c:K1, e:K1, c:K2, e:K2, ...  ARGV: rid, ttl, amount1, limit1 ('' = none), ...
#: Returns the expiry (string) or nil when a limit would be passed (nothing held then).
RESERVE = (
    _PRELUDE
    + """
local now = now_s()
local rid, n = ARGV[1], #KEYS / 2
local seen = {}
for i = 1, n do
  local c, e = KEYS[2 * i - 1], KEYS[2 * i]
  purge(c, e, now)
  local used, held, x, has_u = state(c, now)
  seen[i] = {has_u, x}
  local limit = ARGV[2 * i + 2]
  if limit ~= '' and not fits(used, held, tonumber(ARGV[2 * i + 1]), tonumber(limit)) then
    return false
  end
end
local exp = fmt(now + tonumber(ARGV[2]))
for i = 1, n do
  local c, e, amount = KEYS[2 * i - 1], KEYS[2 * i], ARGV[2 * i + 1]
  redis.call('HSET', c, 'r:' .. rid, amount)
  redis.call('HINCRBYFLOAT', c, 'h', amount)
  redis.call('ZADD', e, exp, rid)
  gc(c, e, now, seen[i][1], seen[i][2])
end
return exp
"""
)

#: Settle or release. KEYS: d:<rid>, c:K1, e:K1, ...  ARGV: rid, remember_ms, spend1 ('' = 0), ...
#: Returns 1, or 0 when the reservation was settled or released before.
FINISH = (
    _PRELUDE
    + """
local now = now_s()
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then return 0 end
local rid, n = ARGV[1], (#KEYS - 1) / 2
for i = 1, n do
  local c, e = KEYS[2 * i], KEYS[2 * i + 1]
  if redis.call('ZREM', e, rid) == 1 then unhold(c, rid) end
  local _, _, x, has_u = state(c, now)
  local spend = ARGV[i + 2]
  if spend ~= '' then
    redis.call('HINCRBYFLOAT', c, 'u', spend)
    has_u = true
  end
  gc(c, e, now, has_u, x)
end
return 1
"""
)

#: KEYS: c:K, e:K  ARGV: amount, ttl ('' = keep).  Returns the new used amount.
ADD = (
    _PRELUDE
    + """
local now = now_s()
local _, _, x = state(KEYS[1], now)
local u = redis.call('HINCRBYFLOAT', KEYS[1], 'u', ARGV[1])
if ARGV[2] ~= '' then
  x = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'x', fmt(x))
end
gc(KEYS[1], KEYS[2], now, true, x)
return u
"""
)

#: KEYS: c:K, e:K.  Returns {used, held}.
GET = (
    _PRELUDE
    + """
local now = now_s()
purge(KEYS[1], KEYS[2], now)
local used, held = state(KEYS[1], now)
return {fmt(used), fmt(held)}
"""
)

_WINDOW_FN = """
-- One sliding-window check of key k (amount_s: the amount as the caller wrote it).
-- Returns {allowed 1|0, count, remaining, retry_after}.
local function window(k, amount_s, limit, w, now)
  local amount = tonumber(amount_s)
  local b = math.floor(now / w)
  local fb, fp = string.format('%.0f', b), string.format('%.0f', b - 1)
  local v = redis.call('HMGET', k, fb, fp)
  local cur, prev = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  local frac = now / w - b
  local est = prev * (1 - frac) + cur
  if fits(est, 0, amount, limit) then
    redis.call('HINCRBYFLOAT', k, fb, amount_s)
    for _, f in ipairs(redis.call('HKEYS', k)) do
      if f ~= fb and f ~= fp then redis.call('HDEL', k, f) end
    end
    redis.call('PEXPIRE', k, math.ceil(2 * w * 1000) + 1000)
    local count = est + amount
    return {1, fmt(count), fmt(math.max(0, limit - count)), '0'}
  end
  local retry
  if amount > limit then
    retry = w
  elseif cur + amount <= limit and prev > 0 then
    retry = math.max(0, (1 - (limit - cur - amount) / prev - frac) * w) + 0.001
  else
    local g = 0
    if cur > 0 then g = 1 - (limit - amount) / cur end
    retry = (1 - frac) * w + math.max(0, g) * w + 0.001
  end
  return {0, fmt(est), fmt(math.max(0, limit - est)), fmt(retry)}
end
"""

#: KEYS: w:K  ARGV: amount, limit, window.  Returns {allowed 1|0, count, remaining, retry_after}.
WINDOW = (
    _PRELUDE
    + _WINDOW_FN
    + """
return window(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), now_s())
"""
)

#: Several windows, one round trip, each decided on its own, in order, at one time.
#: KEYS: w:K1, w:K2, ...  ARGV: amount1, limit1, window1, amount2, ...  Returns one
#: {allowed, count, remaining, retry_after} per key.
WINDOWS = (
    _PRELUDE
    + _WINDOW_FN
    + """
local now = now_s()
local out = {}
for i = 1, #KEYS do
  local j = 3 * (i - 1)
  out[i] = window(KEYS[i], ARGV[j + 1], tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3]), now)
end
return out
"""
)

#: Redelivery. KEYS: stream  ARGV: group, consumer, min_idle_ms, cursor.
#: Claims one message pending longer than min_idle_ms (XAUTOCLAIM raises its delivery count)
#: and reads that count (XPENDING): {cursor, id, fields, deliveries}, or {cursor} when none.
CLAIM = """
local cursor = ARGV[4]
for _ = 1, 8 do
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', 1)
  cursor = r[1]
  local entry = r[2][1]
  if entry then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
    return {cursor, entry[1], entry[2], p[1][4]}
  end
  if cursor == '0-0' then break end
end
return {cursor}
"""
