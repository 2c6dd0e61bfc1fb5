-- applysums.lua — the fast path of apply.lua: count a batch whose entries
-- are all still pending, from sums the processor computed per aggregate key.
--
-- KEYS[1]        the partition's stream
-- KEYS[2]        the partition's device index (sorted set, all scores 0)
-- KEYS[3..]      the aggregate hashes the batch touches (all of one partition)
-- ARGV[1]        the consumer group
-- ARGV[2]        the consumer
-- ARGV[3]        N, the number of entry ids
-- ARGV[4..3+N]   the entry ids
-- then per aggregate key (#KEYS-2 of them), 13 values: PEXPIREAT ms (0 =
--   never), n, Σlat, Σlon, Σx, Σy, Σz, lat min, lat max, lon min, lon max,
--   time min, time max — the batch's contribution, as decimal integers
-- then per device of the batch, 5 values: index in KEYS of its hash, device
--   id, and its latest position in the batch (time, lat, lon)
-- Returns {applied, 0}, or {-1, k} when only k of the N entries were still
-- pending: then it has acknowledged nothing and added nothing, and the
-- caller must use apply.lua, which counts entry by entry.
--
-- Invariants (streamkit/scripts/applysums_test.go checks each):
-- 1. The sums are added if and only if every one of the N entries was
--    pending for the group when the script started, and the script then
--    acknowledges all N: XCLAIM with min-idle 0 and JUSTID returns exactly
--    the ids that are pending (taking them over for this consumer, which is
--    harmless: they are acknowledged in the same atomic call, or, on the
--    fallback, stay pending under this consumer, which applies them next).
--    So each entry is still counted exactly once (apply.lua, invariant 1).
-- 2. Nothing is written before every argument and key type has been
--    checked, and nothing after the first write can fail: HINCRBY takes the
--    processor's integers as they are (no Lua arithmetic), and an overflow
--    needs more than agg.MaxPointsPerKey points in one hash.
-- 3. min/max and the last position only move outwards/forwards, and the
--    last position is ordered by (time, lat, lon) as in apply.lua, so the
--    result does not depend on how entries were split into batches.

local stream, index, group, consumer = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local n = tonumber(ARGV[3])
local nagg = #KEYS - 2
if not n or n < 1 or n > 10000 then
  return redis.error_reply('ERR applysums: bad entry count')
end
local first = 4 + n
local devFirst = first + 13 * nagg
if #ARGV < devFirst - 1 or (#ARGV - devFirst + 1) % 5 ~= 0 then
  return redis.error_reply('ERR applysums: bad argument layout')
end

-- Check everything before the first write (invariant 2).
for i = 4, 3 + n do
  if not string.match(ARGV[i], '^%d+%-%d+$') then
    return redis.error_reply('ERR applysums: entry ' .. (i - 4) .. ' has no stream id')
  end
end
local itype = redis.call('TYPE', index)['ok']
if itype ~= 'zset' and itype ~= 'none' then
  return redis.error_reply('ERR applysums: ' .. index .. ' is not a sorted set')
end
for k = 3, #KEYS do
  local t = redis.call('TYPE', KEYS[k])['ok']
  if t ~= 'hash' and t ~= 'none' then
    return redis.error_reply('ERR applysums: ' .. KEYS[k] .. ' is not a hash')
  end
end
for i = first, devFirst - 1 do
  if not string.match(ARGV[i], '^%-?%d+$') then
    return redis.error_reply('ERR applysums: sum argument ' .. i .. ' is not an integer')
  end
end
for d = devFirst, #ARGV, 5 do
  local ki = tonumber(ARGV[d])
  if not ki or ki < 3 or ki > #KEYS then
    return redis.error_reply('ERR applysums: device key index out of range')
  end
  for j = 2, 4 do
    if not string.match(ARGV[d + j], '^%-?%d+$') then
      return redis.error_reply('ERR applysums: device position is not an integer')
    end
  end
end

-- Invariant 1: all pending, or nothing. Ids go in chunks: Lua's unpack
-- cannot spread more than a few thousand values onto the stack.
local chunk = 1000
local pending = 0
for c = 4, 3 + n, chunk do
  local last = math.min(c + chunk - 1, 3 + n)
  local args = {'XCLAIM', stream, group, consumer, 0}
  for i = c, last do args[#args + 1] = ARGV[i] end
  args[#args + 1] = 'JUSTID'
  pending = pending + #redis.call(unpack(args))
end
if pending ~= n then
  return {-1, pending}
end
for c = 4, 3 + n, chunk do
  redis.call('XACK', stream, group, unpack(ARGV, c, math.min(c + chunk - 1, 3 + n)))
end

local sums = {'n', 'slat', 'slon', 'sx', 'sy', 'sz'}
local bounds = {'latmin', 'latmax', 'lonmin', 'lonmax', 'tmin', 'tmax'}
for k = 1, nagg do
  local key = KEYS[k + 2]
  local o = first + (k - 1) * 13
  if ARGV[o + 1] ~= '0' then -- n = 0: a device hash kept only for its last position
    for i = 1, 6 do redis.call('HINCRBY', key, sums[i], ARGV[o + i]) end
    local cur = redis.call('HMGET', key, unpack(bounds))
    local set = {}
    for i = 1, 6 do -- odd: minima, even: maxima (invariant 3)
      local v = tonumber(ARGV[o + 6 + i])
      local c = cur[i] and tonumber(cur[i])
      if not c or (i % 2 == 1 and v < c) or (i % 2 == 0 and v > c) then
        set[#set + 1] = bounds[i]
        set[#set + 1] = ARGV[o + 6 + i]
      end
    end
    if #set > 0 then redis.call('HSET', key, unpack(set)) end
  end
  if ARGV[o] ~= '0' then redis.call('PEXPIREAT', key, ARGV[o]) end
end

local function later(t, lat, lon, t0, lat0, lon0)
  if t ~= t0 then return t > t0 end
  if lat ~= lat0 then return lat > lat0 end
  return lon > lon0
end
for d = devFirst, #ARGV, 5 do
  local key = KEYS[tonumber(ARGV[d])]
  local t, lat, lon = tonumber(ARGV[d + 2]), tonumber(ARGV[d + 3]), tonumber(ARGV[d + 4])
  local cur = redis.call('HMGET', key, 'lt', 'llat', 'llon')
  if not cur[1] or later(t, lat, lon, tonumber(cur[1]), tonumber(cur[2]), tonumber(cur[3])) then
    redis.call('HSET', key, 'lt', ARGV[d + 2], 'llat', ARGV[d + 3], 'llon', ARGV[d + 4])
  end
  redis.call('ZADD', index, 0, ARGV[d + 1])
end
return {n, 0}
