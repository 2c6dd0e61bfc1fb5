-- apply.lua — count a batch of stream entries into the aggregates, each
-- entry exactly once, however often the batch is delivered or replayed.
-- The processor's slow path (applysums.lua is the fast one): it walks every
-- point, so it serves batches in which some entry may be counted already.
--
-- KEYS[1]        the partition's stream
-- KEYS[2]        the partition's device index (sorted set, all scores 0)
-- KEYS[3..2+A]   the aggregate hashes the batch touches (one partition)
-- KEYS[3+A..#KEYS-2] the device-hour track lists it appends to (T of them)
-- KEYS[#KEYS-1]  the partition's geo index of last positions (geoset.lua)
-- KEYS[#KEYS]    the partition's backlog counter (see append.lua)
-- ARGV[1]        the consumer group
-- ARGV[2]        A, the number of aggregate keys (T = #KEYS - 4 - A >= 0)
-- ARGV[3..2+A+T] PEXPIREAT of each aggregate and track key in Unix ms, 0 = never
-- ARGV[3+A+T]    K, the number of aggregate keys each point adds to
-- then per point, 13+K values (a row):
--   entry id, device id, time ms, lat, lon (1e-7 deg), x, y, z (1e-9),
--   index in KEYS of the device's hash (for its last position),
--   kind: 0 a legacy one-point entry, 1 the first point of a packed entry,
--   2 a further point of the packed entry of the row before (id unused),
--   index in KEYS of its track list (0 = none), its track record (at least
--   12 bytes; point.AppendTrackRecord; the records a call appends to one
--   list go concatenated in one element), its extras for the last position
--   (field lx, "" = none; point.AppendExtras),
--   K indices in KEYS of the aggregates it adds to (0 = none)
-- Returns {applied, duplicates}, in points.
--
-- Invariants (streamkit/scripts/scripts_test.go checks each):
-- 1. An entry's points are added if and only if XACK of its id returned 1
--    in this call. XACK returns 1 once per delivery of an entry to the group
--    and the entry then leaves the pending list, so the pending list is the
--    record of what is not yet counted: a replayed, redelivered or claimed
--    entry adds nothing a second time. Because the script runs atomically,
--    no crash can separate the XACK from the sums. A row of kind 2 follows
--    the XACK of its entry's first row.
-- 2. Nothing is written before every argument has been checked, so a bad
--    call fails without a partial write (Redis does not roll back a script).
-- 3. Per-batch sums in Lua numbers (doubles) are exact: each value is at most
--    1.8e9 in magnitude and a batch has at most 100000 rows, so every sum
--    stays below 2e14 < 2^53; string.format('%.0f') then prints it exactly
--    (tostring would switch to exponent notation at 1e14).
-- 4. min/max and the last position only ever move outwards/forwards, so
--    applying entries in any order gives the same hash.
-- 5. Every hash this call writes gets v = token(the id of the first entry
--    it acknowledged), a token no other call uses (see applysums.lua,
--    invariant 4, which relies on it; token() is the same there).
-- 6. The backlog counter drops by the points of the packed entries counted
--    now (never below 0): append.lua added them; legacy entries never were.
-- 7. A point's track record is pushed onto its track list if and only if
--    its sums are added (invariant 1): a track holds every counted point
--    once. Track keys must be lists (or absent), checked with the rest
--    before the first write; RPUSH and PEXPIREAT then cannot fail.
-- 8. The last position's extras (lx) are written with lt/llat/llon, so the
--    hash never shows one point's position with another's extras.

local stream, index, counter, group = KEYS[1], KEYS[2], KEYS[#KEYS], ARGV[1]
local geoidx = KEYS[#KEYS - 1]
local nagg = tonumber(ARGV[2])
if not nagg or nagg < 0 or nagg > #KEYS - 4 then
  return redis.error_reply('ERR apply: ARGV[2] must be at most #KEYS-4')
end
local ntrk = #KEYS - 4 - nagg
local expire = {}
for i = 1, nagg + ntrk do
  expire[i + 2] = tonumber(ARGV[2 + i])
  if not expire[i + 2] then return redis.error_reply('ERR apply: bad expire-at') end
end
local k = tonumber(ARGV[3 + nagg + ntrk])
local first = 4 + nagg + ntrk
local width = 13 + (k or 0)
if not k or k < 0 or (#ARGV - first + 1) % width ~= 0 then
  return redis.error_reply('ERR apply: bad entry layout')
end
local nentries = (#ARGV - first + 1) / width
if nentries > 100000 then
  return redis.error_reply('ERR apply: batch too large')
end

-- Check every argument and key type before the first write (invariant 2):
-- after the first XACK nothing may fail, or acknowledged entries would go
-- uncounted. HINCRBY could still fail on overflow, which needs more than
-- agg.MaxPointsPerKey (9.2e9) points in one hash.
local err = bad_partition_keys('apply', index, counter, geoidx)
if err then return err end
local created = {} -- track lists that do not exist yet
for i = 3, #KEYS - 2 do
  local want = i <= 2 + nagg and 'hash' or 'list' -- invariant 7
  err, created[i] = bad_type('apply', KEYS[i], want)
  if err then return err end
end
for e = 0, nentries - 1 do
  local o = first + e * width
  local kind = ARGV[o + 9]
  if kind ~= '0' and kind ~= '1' and (kind ~= '2' or e == 0) then
    return redis.error_reply('ERR apply: row ' .. e .. ' has a bad kind')
  end
  if kind ~= '2' and not string.match(ARGV[o], '^%d+%-%d+$') then
    return redis.error_reply('ERR apply: entry ' .. e .. ' has no stream id')
  end
  for j = 2, 7 do -- time, lat, lon, x, y, z
    if not tonumber(ARGV[o + j]) then
      return redis.error_reply('ERR apply: entry ' .. e .. ' value ' .. j .. ' is not a number')
    end
  end
  for j = 8, width - 1 do -- the device's hash, kind, track, then the aggregates
    local ki = tonumber(ARGV[o + j])
    if j == 10 then
      if not ki or (ki ~= 0 and (ki < 3 + nagg or ki > #KEYS - 2 or #ARGV[o + 11] < 12)) then
        return redis.error_reply('ERR apply: entry ' .. e .. ' has a bad track')
      end
    elseif j ~= 9 and j ~= 11 and j ~= 12 and (not ki or ki < 0 or ki > 2 + nagg or (ki > 0 and ki < 3)) then
      return redis.error_reply('ERR apply: entry ' .. e .. ' key index out of range')
    end
  end
end

local acc, last, devices, tracks = {}, {}, {}, {}
local applied, dups, drain, tok = 0, 0, 0, nil
local acked = false -- the XACK of the current entry returned 1
for e = 0, nentries - 1 do
  local o = first + e * width
  local kind = ARGV[o + 9]
  if kind ~= '2' then
    acked = redis.call('XACK', stream, group, ARGV[o]) == 1
  end
  if acked and kind ~= '0' then drain = drain + 1 end
  if acked then
    applied = applied + 1
    tok = tok or ARGV[o]
    local dev = ARGV[o + 1]
    local t, lat, lon = tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4])
    local x, y, z = tonumber(ARGV[o + 5]), tonumber(ARGV[o + 6]), tonumber(ARGV[o + 7])
    local dk = tonumber(ARGV[o + 8])
    if dk > 0 then
      devices[dev] = true
      local l = last[dk]
      if not l or later(t, lat, lon, l[1], l[2], l[3]) then last[dk] = {t, lat, lon, dev, ARGV[o + 12]} end
    end
    local tk = tonumber(ARGV[o + 10])
    if tk > 0 then -- invariant 7
      local r = tracks[tk]
      if not r then r = {}; tracks[tk] = r end
      r[#r + 1] = ARGV[o + 11]
    end
    for j = 13, width - 1 do
      local ki = tonumber(ARGV[o + j])
      if ki > 0 then
        local a = acc[ki]
        if not a then
          acc[ki] = {1, lat, lon, x, y, z, lat, lat, lon, lon, t, t}
        else
          a[1] = a[1] + 1
          a[2] = a[2] + lat
          a[3] = a[3] + lon
          a[4] = a[4] + x
          a[5] = a[5] + y
          a[6] = a[6] + z
          if lat < a[7] then a[7] = lat end
          if lat > a[8] then a[8] = lat end
          if lon < a[9] then a[9] = lon end
          if lon > a[10] then a[10] = lon end
          if t < a[11] then a[11] = t end
          if t > a[12] then a[12] = t end
        end
      end
    end
  else
    dups = dups + 1
  end
end

if tok then tok = token(tok) end
local function int(v) return string.format('%.0f', v) end
local sums = {'n', 'slat', 'slon', 'sx', 'sy', 'sz'}
for ki, a in pairs(acc) do
  local key = KEYS[ki]
  for i = 1, 6 do redis.call('HINCRBY', key, sums[i], int(a[i])) end
  local cur = redis.call('HMGET', key, 'latmin', 'latmax', 'lonmin', 'lonmax', 'tmin', 'tmax')
  local set = {'v', tok} -- invariant 5
  -- fields 1, 3, 5 of cur are minima, 2, 4, 6 maxima (invariant 4)
  local names = {'latmin', 'latmax', 'lonmin', 'lonmax', 'tmin', 'tmax'}
  for i = 1, 6 do
    local v = a[6 + i]
    local c = cur[i] and tonumber(cur[i])
    if not c or (i % 2 == 1 and v < c) or (i % 2 == 0 and v > c) then
      set[#set + 1] = names[i]
      set[#set + 1] = int(v)
    end
  end
  redis.call('HSET', key, unpack(set))
  if expire[ki] > 0 then redis.call('PEXPIREAT', key, int(expire[ki])) end
end
for dk, l in pairs(last) do
  local cur = redis.call('HMGET', KEYS[dk], 'lt', 'llat', 'llon')
  if not cur[1] or later(l[1], l[2], l[3], tonumber(cur[1]), tonumber(cur[2]), tonumber(cur[3])) then
    redis.call('HSET', KEYS[dk], 'lt', int(l[1]), 'llat', int(l[2]), 'llon', int(l[3]), 'lx', l[5], 'v', tok)
    geoset(geoidx, l[4], l[2], l[3])
  end
end
for dev in pairs(devices) do redis.call('ZADD', index, 0, dev) end
for tk, r in pairs(tracks) do
  redis.call('RPUSH', KEYS[tk], table.concat(r))
  -- a list's expiry is a function of its hour: set by the call that creates it
  if expire[tk] > 0 and created[tk] then redis.call('PEXPIREAT', KEYS[tk], int(expire[tk])) end
end
if drain > 0 then -- invariant 6
  if redis.call('DECRBY', counter, drain) < 0 then redis.call('SET', counter, 0) end
end
return {applied, dups}
