-- append.lua — append the points of one or more requests to one partition's
-- stream as ONE packed entry: each request's points all or nothing, at most
-- once per idempotency key. ingest-svc sends the requests that arrive while
-- the previous call to the partition is running as one call (group commit).
-- markers.lua is joined in front of it.
--
-- KEYS[1]       the partition's stream
-- KEYS[2]       the partition's backlog counter: points appended and not yet
--               counted by the processors (apply.lua and applysums.lua
--               decrement it as they count)
-- KEYS[3]       the partition's marker layout (markers.lua; only read and
--               written when a request has a key)
-- KEYS[3+3r-2..3+3r]  request r's legacy marker and its marker hashes of the
--               current and previous slice (the stream's name when it has
--               no key)
-- ARGV[1]       backlog limit in points (0 = no limit)
-- ARGV[2]       the consumer group whose backlog the limit applies to
-- ARGV[3]       R, the number of requests
-- ARGV[4..8]    the markers' layout as the caller named them: slice length
--               L (ms), slice c, bucket counts of slices c and c - 1, and
--               when slice c's hashes expire (Unix ms, (c + 2) * L)
-- then per request: its marker field ("" = no key), its fingerprint (8
--   bytes, stored in the marker), N its number of points, and its segment
--   (the packed points, streamkit/point AppendSegment, version byte 2)
-- The stored requests' segments are concatenated into one entry
-- {n = their total points, p = the segments} (docs/architecture.md,
-- "Stream entry format").
-- Returns 3 values per request, in order: stored, status, fingerprint.
--   status 0: its points were appended now (stored of them);
--   status 1: replayed: an earlier call with the same key stored `stored`
--             points, fingerprint is that call's; nothing was appended;
--   status 2: refused, the backlog is over the limit; nothing appended.
-- Or the error "STALE s b p" when the caller's layout is not Redis's: no
-- request is stored; the caller names the hashes again and resends.
--
-- The backlog limit reads the counter (O(1)); the counter can only run
-- ahead of the truth (points counted while an older version ran, or deleted
-- uncounted), so when it says "full" the group's own backlog in entries is
-- read too, and a group with nothing left to count resets it to 0.
--
-- Invariants (streamkit/scripts/append_test.go checks each):
-- 1. All points of a request are appended, or none: the whole layout and
--    the counter are checked before the first write, nothing after the
--    first write can fail, and the script runs atomically. A malformed or
--    STALE call is an error that stores nothing, for every request in it
--    (the marker layout may have been rolled to the current slice).
-- 2. With a key, the marker is written in the same atomic call as the
--    request's points, so a retry of a request whose first attempt reached
--    Redis finds the marker and appends nothing (stored once), and a retry
--    of one whose first attempt did not reach Redis appends (stored once).
-- 3. Requests of one call do not see each other except through markers: a
--    later request with the key of an earlier one in the same call is a
--    replay of it, exactly as if it had come in the next call.
-- 4. The counter grows by exactly the points this call appended.
-- 5. The limit is checked before each request of a call, counting the
--    points of the call's earlier requests: no call leaves the backlog
--    above limit − 1 + the points of one request.
-- 6. A marker is written only into a hash named by the layout Redis holds
--    (mk_layout), so every later call within its TTL finds it, whatever
--    layout that call's caller had cached (STALE otherwise).

local stream, counter, meta = KEYS[1], KEYS[2], KEYS[3]
local limit, group, nreq = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local L, slice, nb, pb, at = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
if not limit or not nreq or nreq < 1 or #KEYS ~= 3 + 3 * nreq or #ARGV ~= 8 + 4 * nreq then
  return redis.error_reply('ERR append: bad limit or request count')
end

-- Check the layout before the first write (invariant 1).
local keyed = false
for r = 1, nreq do
  local i = 9 + 4 * (r - 1)
  local n, seg = tonumber(ARGV[i + 2]), ARGV[i + 3]
  if not n or n < 1 or n % 1 ~= 0 or string.byte(seg, 1) ~= 2 then
    return redis.error_reply('ERR append: bad request at argument ' .. i)
  end
  keyed = keyed or ARGV[i] ~= ''
end
if keyed and (not slice or not nb or not pb or not tonumber(L) or not tonumber(at)) then
  return redis.error_reply('ERR append: bad marker layout')
end
local stype = redis.call('TYPE', stream)['ok']
if stype ~= 'stream' and stype ~= 'none' then
  return redis.error_reply('WRONGTYPE append: ' .. stream .. ' is a ' .. stype .. ', not a stream')
end
if keyed then
  local stale = mk_layout(meta, L, slice, nb, pb, true)
  if stale then return stale end
end
-- Every marker is read here, before the first write, so that a marker key
-- of the wrong type fails the call with nothing written.
local prevs = {}
for r = 1, nreq do
  local field = ARGV[9 + 4 * (r - 1)]
  if field ~= '' then
    prevs[r] = {mk_find(KEYS[3 * r + 1], KEYS[3 * r + 2], KEYS[3 * r + 3], field)}
  else
    prevs[r] = {}
  end
end
local pending = redis.call('GET', counter)
if pending and not string.match(pending, '^%-?%d+$') then
  return redis.error_reply('ERR append: backlog counter is not an integer')
end
pending = tonumber(pending or '0')

-- The group's backlog in entries: its lag (not yet delivered) plus its
-- pending entries (delivered, not acknowledged). Where Redis cannot tell
-- the lag (no group yet, miniredis, entries deleted with XDEL) the stream's
-- length stands in for it, which errs on the safe side.
local function backlog()
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if type(groups) == 'table' and not groups.err then
    for _, g in ipairs(groups) do
      local f = {}
      for j = 1, #g, 2 do f[g[j]] = g[j + 1] end
      if f['name'] == group then
        if type(f['entries-read']) == 'number' and type(f['lag']) == 'number' then
          return f['lag'] + f['pending']
        end
        break
      end
    end
  end
  return redis.call('XLEN', stream)
end
local full = false
if limit > 0 and pending >= limit then
  if backlog() > 0 then
    full = true
  else
    pending = 0
    redis.call('SET', counter, 0)
  end
end

local out, segs, total, expiring, written = {}, {}, 0, {}, 0
for r = 1, nreq do
  local i = 9 + 4 * (r - 1)
  local field, fp, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local prev = prevs[r]
  if not prev[1] and r > 1 and field ~= '' then
    -- an earlier request of this call may have written it (invariant 3)
    prev = {mk_find(KEYS[3 * r + 1], KEYS[3 * r + 2], KEYS[3 * r + 3], field)}
  end
  if prev[1] then
    out[#out + 1], out[#out + 2], out[#out + 3] = prev[1], 1, prev[2]
  elseif full or (limit > 0 and pending + total >= limit) then
    out[#out + 1], out[#out + 2], out[#out + 3] = 0, 2, fp
  else
    segs[#segs + 1] = ARGV[i + 3]
    total = total + n
    if field ~= '' then
      mk_write(KEYS[3 * r + 2], field, fp, n, at, expiring)
      written = written + 1
    end
    out[#out + 1], out[#out + 2], out[#out + 3] = n, 0, fp
  end
end
mk_count(meta, L, written)
if total > 0 then
  redis.call('XADD', stream, '*', 'n', total, 'p', table.concat(segs))
  redis.call('INCRBY', counter, total)
end
return out
