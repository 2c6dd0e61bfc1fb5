-- append.lua — append the points of one or more requests to one partition's
-- stream as ONE packed entry: each request's points all or nothing, at most
-- once per idempotency key. ingest-svc sends the requests that arrive while
-- the previous call to the partition is running as one call (group commit).
--
-- KEYS[1]       the partition's stream
-- KEYS[2]       the partition's backlog counter: points appended and not yet
--               counted by the processors (apply.lua and applysums.lua
--               decrement it as they count)
-- KEYS[2+r]     request r's idempotency marker in this partition (only read
--               and written when its TTL > 0; the stream's name otherwise)
-- ARGV[1]       backlog limit in points (0 = no limit)
-- ARGV[2]       the consumer group whose backlog the limit applies to
-- ARGV[3]       R, the number of requests
-- then per request: its marker TTL in ms (0 = no key), its fingerprint
--   (stored in the marker), N its number of points, and its segment (the
--   packed points, streamkit/point AppendSegment, version byte 2)
-- The stored requests' segments are concatenated into one entry
-- {n = their total points, p = the segments} (docs/architecture.md,
-- "Stream entry format").
-- Returns 3 values per request, in order: stored, status, fingerprint.
--   status 0: its points were appended now (stored of them);
--   status 1: replayed: an earlier call with the same key stored `stored`
--             points, fingerprint is that call's; nothing was appended;
--   status 2: refused, the backlog is over the limit; nothing appended.
--
-- The backlog limit reads the counter (O(1)); the counter can only run
-- ahead of the truth (points counted while an older version ran, or deleted
-- uncounted), so when it says "full" the group's own backlog in entries is
-- read too, and a group with nothing left to count resets it to 0.
--
-- Invariants (streamkit/scripts/append_test.go checks each):
-- 1. All points of a request are appended, or none: the whole layout and
--    the counter are checked before the first write, nothing after the
--    first write can fail, and the script runs atomically. A malformed call
--    is an error that writes nothing, for every request in it.
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

local stream, counter = KEYS[1], KEYS[2]
local limit, group, nreq = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
if not limit or not nreq or nreq < 1 or #KEYS ~= 2 + nreq or #ARGV ~= 3 + 4 * nreq then
  return redis.error_reply('ERR append: bad limit or request count')
end

-- Check the layout before the first write (invariant 1).
for r = 1, nreq do
  local i = 4 + 4 * (r - 1)
  local ttl, n, seg = tonumber(ARGV[i]), tonumber(ARGV[i + 2]), ARGV[i + 3]
  if not ttl or ttl < 0 or not n or n < 1 or n % 1 ~= 0 or string.byte(seg, 1) ~= 2 then
    return redis.error_reply('ERR append: bad request at argument ' .. i)
  end
end
local stype = redis.call('TYPE', stream)['ok']
if stype ~= 'stream' and stype ~= 'none' then
  return redis.error_reply('WRONGTYPE append: ' .. stream .. ' is a ' .. stype .. ', not a stream')
end
-- Every marker is read here, before the first write, so that a marker key
-- of the wrong type fails the call with nothing written.
local prevs = {}
for r = 1, nreq do
  local ttl = tonumber(ARGV[4 + 4 * (r - 1)])
  prevs[r] = ttl > 0 and redis.call('HMGET', KEYS[2 + r], 'n', 'fp') or {}
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

local out, segs, total = {}, {}, 0
for r = 1, nreq do
  local i = 4 + 4 * (r - 1)
  local ttl, fp, n = tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2])
  local marker, prev = KEYS[2 + r], prevs[r]
  if not prev[1] and r > 1 and ttl > 0 then
    -- an earlier request of this call may have written it (invariant 3)
    prev = redis.call('HMGET', marker, 'n', 'fp')
  end
  if prev[1] then
    out[#out + 1], out[#out + 2], out[#out + 3] = tonumber(prev[1]), 1, prev[2]
  elseif full or (limit > 0 and pending + total >= limit) then
    out[#out + 1], out[#out + 2], out[#out + 3] = 0, 2, fp
  else
    segs[#segs + 1] = ARGV[i + 3]
    total = total + n
    if ttl > 0 then
      redis.call('HSET', marker, 'n', n, 'fp', fp)
      redis.call('PEXPIRE', marker, ttl)
    end
    out[#out + 1], out[#out + 2], out[#out + 3] = n, 0, fp
  end
end
if total > 0 then
  redis.call('XADD', stream, '*', 'n', total, 'p', table.concat(segs))
  redis.call('INCRBY', counter, total)
end
return out
