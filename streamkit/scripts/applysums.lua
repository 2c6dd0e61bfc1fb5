-- applysums.lua — the fast path of apply.lua: count a batch whose entries
-- are all still pending, from sums the processor computed per aggregate key.
--
-- KEYS[1]        the partition's stream
-- KEYS[2]        the partition's device index (sorted set, all scores 0)
-- KEYS[3..2+A]   the aggregate hashes the batch touches (one partition),
--                A = #KEYS - 4 - T
-- KEYS[3+A..#KEYS-2] the T device-hour track lists it appends to
-- KEYS[#KEYS-1]  the partition's geo index of last positions (geoset.lua)
-- KEYS[#KEYS]    the partition's backlog counter (see append.lua)
-- ARGV[1]        the consumer group
-- ARGV[2]        the consumer
-- ARGV[3]        how the ids are proved pending: "fresh" when they are one
--                whole XREADGROUP ">" read (XPENDING's summary, else as
--                "run"), "run" when they are a run of consecutive entries
--                of one read (one XPENDING of the range), "each" otherwise
--                (one XPENDING per id)
-- ARGV[4]        N, the number of entry ids
-- ARGV[5]        the points of the batch's packed entries, drained from the
--                backlog counter once they are counted (never below 0)
-- ARGV[6..5+N]   the entry ids; for "fresh" and "run" in increasing order
--                (as XREADGROUP, XAUTOCLAIM and XPENDING return them), for
--                "each" in any order
-- ARGV[6+N]      T, the number of track lists
-- then per aggregate key (A of them), 15 values: PEXPIREAT ms (0 =
--   never), the expected token, the expected n, then 12 values (n, Σlat,
--   Σlon, Σx, Σy, Σz, lat min, lat max, lon min, lon max, time min, time
--   max) whose meaning depends on the mode of the key:
--   - delta ("*" as the expected token; the expected n is ignored): the 12
--     values are the batch's contribution; the script adds the sums with
--     HINCRBY and compares the bounds with the hash's;
--   - absolute (any other expected token, "" for none): the caller read the
--     hash (SumBatch.Prepare) and found its token field v and its n as
--     given ("" for absent), and the 12 values are what the hash must hold
--     after the batch: the new n and sums, and each bound, or "" where the
--     batch leaves it as it is. The script writes them with one HSET.
-- then per track list, in KEYS order, 2 values: PEXPIREAT ms (0 = never)
--   and the batch's track records of it, concatenated (point.AppendTrackRecord),
--   appended as one list element
-- then per device of the batch, 6 values: index in KEYS of its hash, device
--   id, its latest position in the batch (time, lat, lon) and that point's
--   extras (field lx, "" = none; point.AppendExtras)
-- Returns {applied, 1} when proof "fresh" held from the summary, {applied,
-- 0} when the ids were listed, {-1, k} when not all N entries are pending for
-- the consumer (k were proved before one was not): then it has acknowledged
-- nothing and added nothing, and the caller must use apply.lua, which
-- counts entry by entry; or {-2, k1, k2, ...} when the aggregates KEYS[3+k1],
-- KEYS[3+k2], ..., in absolute mode, no longer hold the expected token and
-- n (another call wrote them since the caller read them): then it has
-- written nothing, and the caller must send the batch again with those
-- keys in delta mode (delta mode never answers -2).
--
-- Invariants (streamkit/scripts/applysums_test.go checks each):
-- 1. The sums are added if and only if every one of the N entries was
--    pending for this consumer when the script started, and the script then
--    acknowledges all N. The proof is read-only (XPENDING, which writes
--    nothing to the AOF; docs/performance.md, change 1):
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
--      N entries. Otherwise (other consumers have pending entries, say) the
--      ids are proved as a run.
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
-- 4. Absolute mode writes exactly what delta mode would have: every call
--    that writes a hash's values (this script in either mode, apply.lua)
--    sets its field v to a token no other call ever used, made from the id
--    of an entry the call acknowledges (an entry leaves the pending list
--    once, stream ids are never reused, and token() is injective), so an
--    unchanged v means no such call
--    wrote the hash since it was read. (This assumes Redis does not lose
--    acknowledged writes: a failover to a lagging replica or a restore
--    from an AOF written every second can put entries back on the pending
--    list, so their ids could stamp a hash again; like the rest of
--    exactly-once, the guarantee is as durable as Redis's AOF policy.)
--    A writer that does not know v (a
--    processor of an earlier version, during a rolling upgrade) always
--    changes n when it adds points; it may move only the last position
--    (n unchanged), which this script compares with the hash's current one
--    in either mode. So when v and n are as the caller read them, the hash
--    holds what the caller computed from: its values are old + batch,
--    exactly (Go's int64 arithmetic, SumBatch.Prepare). The caller uses
--    absolute mode only for a hash that was absent or had a v; a hash that
--    had values but no v (written by an earlier version only) could be
--    deleted and rebuilt by such writers to the same n unseen, so it goes
--    in delta mode. A hash deleted or expired since the read fails the
--    check (v or n absent), and is rebuilt from the batch alone in delta
--    mode, as before. Delta mode costs Redis an HMGET of 10 fields, 6
--    HINCRBY and an HSET a hash, absolute mode an HMGET of 2 fields (5
--    for a device's own hash) and one HSET, plus the caller's plain
--    pipelined HMGET: 21-33 % less Redis CPU per entry in
--    BenchmarkApplySumsRun's batches, measured when the check read 5
--    fields of every hash (most of a hash's cost is converting values
--    between Lua and Redis, not the commands).
-- 5. The track records are appended if and only if the sums are added
--    (invariant 1), in the same call: a track holds every counted point
--    once. Track keys must be lists (or absent), checked before the first
--    write with the rest; RPUSH and PEXPIREAT then cannot fail.
-- 6. The last position's extras (lx) are written with lt/llat/llon.

local stream, index, group, consumer = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local mode, n = ARGV[3], tonumber(ARGV[4])
local counter, drain = KEYS[#KEYS], tonumber(ARGV[5])
local geoidx = KEYS[#KEYS - 1]
if not n or n < 1 or n > 10000 then
  return redis.error_reply('ERR applysums: bad entry count')
end
if not drain or drain < 0 then
  return redis.error_reply('ERR applysums: bad drain')
end
if mode ~= 'fresh' and mode ~= 'run' and mode ~= 'each' then
  return redis.error_reply('ERR applysums: proof must be fresh, run or each')
end
local ntrk = tonumber(ARGV[6 + n])
if not ntrk or ntrk < 0 or ntrk > #KEYS - 4 then
  return redis.error_reply('ERR applysums: bad track count')
end
local nagg = #KEYS - 4 - ntrk
local first = 7 + n
local width = 15
-- trkAt[k] is where the section of track list KEYS[k] starts (invariant 5).
local trkAt, devFirst = {}, first + width * nagg
for k = 3 + nagg, #KEYS - 2 do
  if #ARGV < devFirst + 1 or #ARGV[devFirst + 1] < 12 then
    return redis.error_reply('ERR applysums: bad track section')
  end
  trkAt[k] = devFirst
  devFirst = devFirst + 2
end
if #ARGV < devFirst - 1 or (#ARGV - devFirst + 1) % 6 ~= 0 then
  return redis.error_reply('ERR applysums: bad argument layout')
end

-- Check everything before the first write (invariant 2).
local err = bad_partition_keys('applysums', index, counter, geoidx)
if err then return err end
-- The sums, bounds, expiries and positions are not checked one by one:
-- SumBatch.Layout passes them as Go int64 values, which go-redis writes as
-- decimal integers, so they cannot be malformed; checking 15,000 of them
-- a batch with Lua patterns cost as much as the rest of the script. What
-- the caller cannot know is checked: key types, the layout, the device key
-- indexes and, below, which entries are pending. devAt[k] is where the
-- device section of KEYS[k] starts, for a device's own hash.
local devAt, members, trkNew = {}, {}, {}
for k = 3 + nagg, #KEYS - 2 do
  err, trkNew[k] = bad_type('applysums', KEYS[k], 'list')
  if err then return err end
end
for d = devFirst, #ARGV, 6 do
  local ki = tonumber(ARGV[d])
  if not ki or ki < 3 or ki > 2 + nagg then
    return redis.error_reply('ERR applysums: device key index out of range')
  end
  devAt[ki] = d
  members[#members + 1] = 0
  members[#members + 1] = ARGV[d + 1]
end
-- Read every aggregate's current values now: the reads also prove each key
-- is a hash (or absent) before anything is written, check the tokens of
-- keys in absolute mode (invariant 4), and spare a read per key later.
-- cur[k] holds, for delta mode, n, the six bounds and the last position;
-- for absolute mode v, n and, for a device's own hash, the last position.
-- pos[k] is where the last position starts in cur[k], created[k] whether
-- the hash has no n yet.
local dfields = {'n', 'latmin', 'latmax', 'lonmin', 'lonmax', 'tmin', 'tmax', 'lt', 'llat', 'llon'}
local cur, absolute, created, pos, conflicts = {}, {}, {}, {}, {-2}
for k = 3, 2 + nagg do
  local o = first + (k - 3) * width
  local r
  if ARGV[o + 1] == '*' then
    r = redis.pcall('HMGET', KEYS[k], unpack(dfields))
    pos[k] = 8
  else
    absolute[k] = true
    if devAt[k] then
      r = redis.pcall('HMGET', KEYS[k], 'v', 'n', 'lt', 'llat', 'llon')
    else
      r = redis.pcall('HMGET', KEYS[k], 'v', 'n')
    end
    pos[k] = 3
  end
  if type(r) ~= 'table' or r.err then
    return redis.error_reply('ERR applysums: ' .. KEYS[k] .. ' is not a hash')
  end
  if absolute[k] then
    if (r[1] or '') ~= ARGV[o + 1] or (r[2] or '') ~= ARGV[o + 2] then
      conflicts[#conflicts + 1] = k - 3
    end
    created[k] = not r[2]
  else
    created[k] = not r[1]
  end
  cur[k] = r
end
if #conflicts > 1 then return conflicts end

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
    and idAtMost(ARGV[6], sum[2]) and idAtMost(sum[3], ARGV[5 + n])
  if not proved then mode = 'run' end
end
if proved then
  -- nothing more to check
elseif mode == 'run' then
  -- COUNT N+1 so that an extra pending entry in the range shows.
  local listed = redis.call('XPENDING', stream, group, ARGV[6], ARGV[5 + n], n + 1, consumer)
  if #listed ~= n then
    return {-1, #listed}
  end
  for i = 1, n do
    if listed[i][1] ~= ARGV[5 + i] then
      return {-1, i - 1}
    end
  end
else
  local seen = {}
  for i = 1, n do
    local id = ARGV[5 + i]
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
for c = 6, 5 + n, chunk do
  redis.call('XACK', stream, group, unpack(ARGV, c, math.min(c + chunk - 1, 5 + n)))
end

-- Invariant 4: every call that writes a hash's values sets v to tok, an
-- entry this call acknowledged for the first time.
local tok = token(ARGV[6])
local sums = {'n', 'slat', 'slon', 'sx', 'sy', 'sz'}
local bounds = {'latmin', 'latmax', 'lonmin', 'lonmax', 'tmin', 'tmax'}
for k = 3, 2 + nagg do
  local key, c = KEYS[k], cur[k]
  local o = first + (k - 3) * width + 2 -- ARGV[o + 1 .. o + 12]: the 12 values
  local set = {}
  if absolute[k] then
    for i = 1, 6 do
      set[#set + 1] = sums[i]
      set[#set + 1] = ARGV[o + i]
    end
    for i = 7, 12 do
      if ARGV[o + i] ~= '' then
        set[#set + 1] = bounds[i - 6]
        set[#set + 1] = ARGV[o + i]
      end
    end
  elseif ARGV[o + 1] ~= '0' then -- n = 0: a device hash kept only for its last position
    for i = 1, 6 do redis.call('HINCRBY', key, sums[i], ARGV[o + i]) end
    for i = 1, 6 do -- odd: minima, even: maxima (invariant 3)
      local v = tonumber(ARGV[o + 6 + i])
      local old = c[i + 1] and tonumber(c[i + 1])
      if not old or (i % 2 == 1 and v < old) or (i % 2 == 0 and v > old) then
        set[#set + 1] = bounds[i]
        set[#set + 1] = ARGV[o + 6 + i]
      end
    end
    set[#set + 1] = 'v'
    set[#set + 1] = tok
  end
  local d = devAt[k]
  if d then
    local p = pos[k]
    local t, lat, lon = tonumber(ARGV[d + 2]), tonumber(ARGV[d + 3]), tonumber(ARGV[d + 4])
    if not c[p] or later(t, lat, lon, tonumber(c[p]), tonumber(c[p + 1]), tonumber(c[p + 2])) then
      set[#set + 1] = 'lt'
      set[#set + 1] = ARGV[d + 2]
      set[#set + 1] = 'llat'
      set[#set + 1] = ARGV[d + 3]
      set[#set + 1] = 'llon'
      set[#set + 1] = ARGV[d + 4]
      set[#set + 1] = 'lx' -- invariant 6
      set[#set + 1] = ARGV[d + 5]
      geoset(geoidx, ARGV[d + 1], ARGV[d + 3], ARGV[d + 4])
    end
  end
  if absolute[k] or (#set > 0 and ARGV[o + 1] == '0') then
    set[#set + 1] = 'v'
    set[#set + 1] = tok
  end
  if #set > 0 then redis.call('HSET', key, unpack(set)) end
  -- A bucket's expiry is a function of the bucket alone, so the call that
  -- creates the hash sets it and later calls need not repeat it.
  if ARGV[o - 2] ~= '0' and created[k] then redis.call('PEXPIREAT', key, ARGV[o - 2]) end
end
for k, o in pairs(trkAt) do -- invariant 5
  redis.call('RPUSH', KEYS[k], ARGV[o + 1])
  -- a list's expiry is a function of its hour: set by the call that creates it
  if ARGV[o] ~= '0' and trkNew[k] then redis.call('PEXPIREAT', KEYS[k], ARGV[o]) end
end
for c = 1, #members, 2000 do -- chunks: unpack spreads at most a few thousand values
  redis.call('ZADD', index, unpack(members, c, math.min(c + 1999, #members)))
end
if drain > 0 then -- the points counted now are no longer backlog
  if redis.call('DECRBY', counter, drain) < 0 then redis.call('SET', counter, 0) end
end
return {n, proved and 1 or 0}
