-- applysums.lua — the fast path of apply.lua: count a batch whose entries
-- are all still pending, from sums the processor computed per aggregate key.
--
-- KEYS[1]        the partition's stream
-- KEYS[2]        the partition's device index (sorted set, all scores 0)
-- KEYS[3..]      the aggregate hashes the batch touches (all of one partition)
-- ARGV[1]        the consumer group
-- ARGV[2]        the consumer
-- ARGV[3]        how the ids are proved pending: "fresh" when they are one
--                whole XREADGROUP ">" read (XPENDING's summary, else as
--                "run"), "run" when they are a run of consecutive entries
--                of one read (one XPENDING of the range), "each" otherwise
--                (one XPENDING per id)
-- ARGV[4]        N, the number of entry ids
-- ARGV[5..4+N]   the entry ids; for "fresh" and "run" in increasing order
--                (as XREADGROUP, XAUTOCLAIM and XPENDING return them), for
--                "each" in any order
-- then per aggregate key (#KEYS-2 of them), 13 values: PEXPIREAT ms (0 =
--   never), n, Σlat, Σlon, Σx, Σy, Σz, lat min, lat max, lon min, lon max,
--   time min, time max — the batch's contribution, as decimal integers
-- then per device of the batch, 5 values: index in KEYS of its hash, device
--   id, and its latest position in the batch (time, lat, lon)
-- Returns {applied, 1} when proof "fresh" held from the summary, {applied,
-- 0} when the ids were listed, or {-1, k} when not all N entries are pending for
-- the consumer (k were proved before one was not): then it has acknowledged
-- nothing and added nothing, and the caller must use apply.lua, which
-- counts entry by entry.
--
-- Invariants (streamkit/scripts/applysums_test.go checks each):
-- 1. The sums are added if and only if every one of the N entries was
--    pending for this consumer when the script started, and the script then
--    acknowledges all N. The proof is read-only (XPENDING; an earlier
--    version used XCLAIM … JUSTID, which Redis writes to the AOF once per
--    id: half of the script's cost):
--    - "run": XPENDING of the consumer between the first and the last id
--      must list exactly the N ids, in order (a duplicate id, an id out of
--      order, an entry acknowledged or claimed by another consumer
--      meanwhile, or one of ours in the range but not in the batch: all
--      make the lists differ). Cheap, but only for a run of consecutive
--      entries of one read: other pending entries of ours in the range
--      would make it fail.
--    - "each": one XPENDING per id, which must list that id, and no id
--      twice. For a call holding some devices' entries of a read.
--    - "fresh": the ids are every entry of one XREADGROUP ">" read, in
--      order. Then no other id between the first and the last can ever be
--      pending for anyone: ">" delivers consecutive entries after the
--      group's last-delivered id, so earlier deliveries are below the first
--      and later ones above the last, claims only move entries already
--      pending, and XADD never inserts below the stream's last id. So if
--      XPENDING's summary says the group has exactly N pending entries, all
--      between the first and the last id, and all N are this consumer's,
--      they are exactly the batch: proved in O(consumers), without listing
--      N entries (that listing was ~40 % of the script's time on 10,000-
--      entry batches). Otherwise (other consumers have pending entries,
--      say) the ids are proved as a run.
--    Pending for us and acknowledged in the same atomic call means no other
--    call counted them and none will (apply.lua, invariant 1), so each
--    entry is still counted exactly once.
-- 2. Nothing is written before the layout, the key types and the ids have
--    been checked, and nothing after the first write can fail: the ids are
--    checked by the comparison with XPENDING's reply (an id that does not
--    parse fails XPENDING, before any write); HINCRBY, PEXPIREAT and the
--    comparisons take the caller's integers as they are (no Lua
--    arithmetic), which are integers by type (SumBatch.Layout); and an
--    overflow needs more than agg.MaxPointsPerKey points in one hash.
-- 3. min/max and the last position only move outwards/forwards, and the
--    last position is ordered by (time, lat, lon) as in apply.lua, so the
--    result does not depend on how entries were split into batches.

local stream, index, group, consumer = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local mode, n = ARGV[3], tonumber(ARGV[4])
local nagg = #KEYS - 2
if not n or n < 1 or n > 10000 then
  return redis.error_reply('ERR applysums: bad entry count')
end
if mode ~= 'fresh' and mode ~= 'run' and mode ~= 'each' then
  return redis.error_reply('ERR applysums: proof must be fresh, run or each')
end
local first = 5 + n
local devFirst = first + 13 * nagg
if #ARGV < devFirst - 1 or (#ARGV - devFirst + 1) % 5 ~= 0 then
  return redis.error_reply('ERR applysums: bad argument layout')
end

-- Check everything before the first write (invariant 2).
local itype = redis.call('TYPE', index)['ok']
if itype ~= 'zset' and itype ~= 'none' then
  return redis.error_reply('ERR applysums: ' .. index .. ' is not a sorted set')
end
-- Read every aggregate's current bounds and last position now: the reads
-- also prove each key is a hash (or absent) before anything is written, and
-- spare a read per key later.
local fields = {'n', 'latmin', 'latmax', 'lonmin', 'lonmax', 'tmin', 'tmax', 'lt', 'llat', 'llon'}
local cur = {}
for k = 3, #KEYS do
  local r = redis.pcall('HMGET', KEYS[k], unpack(fields))
  if type(r) ~= 'table' or r.err then
    return redis.error_reply('ERR applysums: ' .. KEYS[k] .. ' is not a hash')
  end
  cur[k] = r
end
-- The sums, bounds, expiries and positions are not checked one by one:
-- SumBatch.Layout passes them as Go int64 values, which go-redis writes as
-- decimal integers, so they cannot be malformed; checking 15,000 of them
-- a batch with Lua patterns cost as much as the rest of the script. What
-- the caller cannot know is checked: key types, the layout, the device key
-- indexes and, below, which entries are pending.
for d = devFirst, #ARGV, 5 do
  local ki = tonumber(ARGV[d])
  if not ki or ki < 3 or ki > #KEYS then
    return redis.error_reply('ERR applysums: device key index out of range')
  end
end

-- Invariant 1: all N ids pending for this consumer, or nothing.
local function parseid(id)
  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function idAtMost(a, b) -- a <= b as stream IDs; false when either is not one
  local am, as = parseid(a)
  local bm, bs = parseid(b)
  if not am or not bm then return false end
  if am ~= bm then return am < bm end
  return as <= bs
end
-- "fresh": proved from XPENDING's summary when it can be (see invariant 1),
-- else as a run.
local proved = false
if mode == 'fresh' then
  local sum = redis.call('XPENDING', stream, group)
  local mine = 0
  if type(sum[4]) == 'table' then
    for _, cc in ipairs(sum[4]) do
      if cc[1] == consumer then mine = tonumber(cc[2]) end
    end
  end
  proved = mine == n and sum[1] == n and type(sum[2]) == 'string' and type(sum[3]) == 'string'
    and idAtMost(ARGV[5], sum[2]) and idAtMost(sum[3], ARGV[4 + n])
  if not proved then mode = 'run' end
end
if proved then
  -- nothing more to check
elseif mode == 'run' then
  -- COUNT N+1 so that an extra pending entry in the range shows.
  local listed = redis.call('XPENDING', stream, group, ARGV[5], ARGV[4 + n], n + 1, consumer)
  if #listed ~= n then
    return {-1, #listed}
  end
  for i = 1, n do
    if listed[i][1] ~= ARGV[4 + i] then
      return {-1, i - 1}
    end
  end
else
  local seen = {}
  for i = 1, n do
    local id = ARGV[4 + i]
    local listed = redis.call('XPENDING', stream, group, id, id, 1, consumer)
    if #listed ~= 1 or listed[1][1] ~= id or seen[id] then
      return {-1, i - 1}
    end
    seen[id] = true
  end
end
-- Ids go in chunks: Lua's unpack cannot spread more than a few thousand
-- values onto the stack.
local chunk = 1000
for c = 5, 4 + n, chunk do
  redis.call('XACK', stream, group, unpack(ARGV, c, math.min(c + chunk - 1, 4 + n)))
end

local function later(t, lat, lon, t0, lat0, lon0)
  if t ~= t0 then return t > t0 end
  if lat ~= lat0 then return lat > lat0 end
  return lon > lon0
end
local devAt, members = {}, {}
for d = devFirst, #ARGV, 5 do
  devAt[tonumber(ARGV[d])] = d
  members[#members + 1] = 0
  members[#members + 1] = ARGV[d + 1]
end

local sums = {'n', 'slat', 'slon', 'sx', 'sy', 'sz'}
for k = 3, #KEYS do
  local key, c = KEYS[k], cur[k]
  local o = first + (k - 3) * 13
  local set = {}
  if ARGV[o + 1] ~= '0' then -- n = 0: a device hash kept only for its last position
    for i = 1, 6 do redis.call('HINCRBY', key, sums[i], ARGV[o + i]) end
    for i = 1, 6 do -- odd: minima, even: maxima (invariant 3)
      local v = tonumber(ARGV[o + 6 + i])
      local old = c[i + 1] and tonumber(c[i + 1])
      if not old or (i % 2 == 1 and v < old) or (i % 2 == 0 and v > old) then
        set[#set + 1] = fields[i + 1]
        set[#set + 1] = ARGV[o + 6 + i]
      end
    end
  end
  local d = devAt[k]
  if d then
    local t, lat, lon = tonumber(ARGV[d + 2]), tonumber(ARGV[d + 3]), tonumber(ARGV[d + 4])
    if not c[8] or later(t, lat, lon, tonumber(c[8]), tonumber(c[9]), tonumber(c[10])) then
      set[#set + 1] = 'lt'
      set[#set + 1] = ARGV[d + 2]
      set[#set + 1] = 'llat'
      set[#set + 1] = ARGV[d + 3]
      set[#set + 1] = 'llon'
      set[#set + 1] = ARGV[d + 4]
    end
  end
  if #set > 0 then redis.call('HSET', key, unpack(set)) end
  -- A bucket's expiry is a function of the bucket alone, so the call that
  -- creates the hash sets it and later calls need not repeat it.
  if ARGV[o] ~= '0' and not c[1] then redis.call('PEXPIREAT', key, ARGV[o]) end
end
for c = 1, #members, 2000 do -- chunks: unpack spreads at most a few thousand values
  redis.call('ZADD', index, unpack(members, c, math.min(c + 1999, #members)))
end
return {n, proved and 1 or 0}
