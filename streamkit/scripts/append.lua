-- append.lua — append the points of one or more requests to one partition's
-- stream: each request's points all or nothing, at most once per
-- idempotency key. ingest-svc sends the requests that arrive while the
-- previous call to the partition is running as one call (group commit).
--
-- KEYS[1]       the partition's stream
-- KEYS[1+r]     request r's idempotency marker in this partition (only read
--               and written when its TTL > 0; the stream's name otherwise)
-- ARGV[1]       backlog limit: refuse requests when the stream already holds
--               this many unprocessed entries (0 = no limit)
-- ARGV[2]       the consumer group whose backlog the limit applies to
-- ARGV[3]       R, the number of requests
-- then per request: its marker TTL in ms (0 = the request has no key), its
--   fingerprint (stored in the marker), E its number of entries, then per
--   entry F, the number of field/value values, and the F values
-- Returns 3 values per request, in order: stored, status, fingerprint.
--   status 0: its entries were appended now (stored of them);
--   status 1: replayed: an earlier call with the same key stored `stored`
--             entries, fingerprint is that call's; nothing was appended;
--   status 2: refused, the backlog is over the limit; nothing appended.
-- The backlog is what the processors have not yet counted: the group's lag
-- (entries not yet delivered) plus its pending entries (delivered, not yet
-- acknowledged). Counted entries that the processors keep for replay
-- (--retention) are not backlog. Where Redis cannot tell the lag (no group
-- yet, miniredis, or a stream whose entries were deleted with XDEL) the
-- stream's length stands in for it, which errs on the safe side. It is read
-- once per call (a call of several requests is judged as one), and only
-- when the stream holds at least the limit's number of entries.
--
-- Invariants (streamkit/scripts/append_test.go checks each):
-- 1. All entries of a request are appended, or none: the whole layout is
--    checked and the backlog read before the first XADD, nothing after the
--    first XADD can fail, and the script runs atomically. A malformed call
--    is an error that writes nothing, for every request in it.
-- 2. With a key, the marker is written in the same atomic call as the
--    request's entries, so a retry of a request whose first attempt reached
--    Redis finds the marker and appends nothing (stored once), and a retry
--    of one whose first attempt did not reach Redis appends (stored once).
-- 3. Requests of one call do not see each other except through markers: a
--    later request with the key of an earlier one in the same call is a
--    replay of it, exactly as if it had come in the next call.

local stream = KEYS[1]
local limit, group, nreq = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
if not limit or not nreq or nreq < 1 or #KEYS ~= 1 + nreq then
  return redis.error_reply('ERR append: bad limit or request count')
end

-- Check the layout before the first write (invariant 1): reqs[r] = the
-- index of request r's first entry, its entry count, its TTL.
local reqs = {}
local i = 4
for r = 1, nreq do
  local ttl, e = tonumber(ARGV[i]), tonumber(ARGV[i + 2])
  if not ttl or ttl < 0 or not e or e < 1 then
    return redis.error_reply('ERR append: bad request header at argument ' .. i)
  end
  reqs[r] = {i + 3, e, ttl, ARGV[i + 1]}
  i = i + 3
  for _ = 1, e do
    local f = tonumber(ARGV[i])
    if not f or f < 2 or f % 2 ~= 0 or i + f > #ARGV then
      return redis.error_reply('ERR append: bad entry layout at argument ' .. i)
    end
    i = i + 1 + f
  end
end
if i ~= #ARGV + 1 then
  return redis.error_reply('ERR append: ' .. (#ARGV + 1 - i) .. ' arguments after the last request')
end

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
-- The backlog is at most the stream's length (lag and pending entries are
-- all in the stream: trimming never removes a pending entry), and XLEN is
-- O(1) while reading the group's lag costs more than appending a point: a
-- stream shorter than the limit needs no more.
local full = limit > 0 and redis.call('XLEN', stream) >= limit and backlog() >= limit

local out = {}
for r = 1, nreq do
  local first, e, ttl, fp = reqs[r][1], reqs[r][2], reqs[r][3], reqs[r][4]
  local marker = KEYS[1 + r]
  local prev = ttl > 0 and redis.call('HMGET', marker, 'n', 'fp') or {}
  if prev[1] then
    out[#out + 1], out[#out + 2], out[#out + 3] = tonumber(prev[1]), 1, prev[2]
  elseif full then
    out[#out + 1], out[#out + 2], out[#out + 3] = 0, 2, fp
  else
    i = first
    for _ = 1, e do
      local f = tonumber(ARGV[i])
      redis.call('XADD', stream, '*', unpack(ARGV, i + 1, i + f))
      i = i + 1 + f
    end
    if ttl > 0 then
      redis.call('HSET', marker, 'n', e, 'fp', fp)
      redis.call('PEXPIRE', marker, ttl)
    end
    out[#out + 1], out[#out + 2], out[#out + 3] = e, 0, fp
  end
end
return out
