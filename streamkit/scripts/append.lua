-- append.lua — append one request's points of one partition to its stream,
-- all or nothing, at most once per idempotency key.
--
-- KEYS[1]   the partition's stream
-- KEYS[2]   the idempotency marker of the request in this partition
--           (only read and written when ARGV[2] > 0)
-- ARGV[1]   backlog limit: refuse when the stream already holds this many
--           entries (0 = no limit)
-- ARGV[2]   idempotency marker TTL in ms (0 = the request has no key)
-- ARGV[3]   the request's fingerprint, stored in the marker
-- ARGV[4]   the consumer group whose backlog the limit applies to
-- then per entry: F, the number of field/value values, then the F values
-- Returns {stored, replayed, fingerprint}: stored is the number of entries the request
-- stored in this partition (now, or by the first attempt when replayed is 1).
-- Fails with "BACKLOG ..." when the stream is over the limit, writing nothing.
-- The backlog is what the processors have not yet counted: the group's lag
-- (entries not yet delivered) plus its pending entries (delivered, not yet
-- acknowledged). Counted entries that the processors keep for replay
-- (--retention) are not backlog. Where Redis cannot tell the lag (no group
-- yet, miniredis, or a stream whose entries were deleted with XDEL) the
-- stream's length stands in for it, which errs on the safe side.
--
-- Invariants (streamkit/scripts/append_test.go checks each):
-- 1. All entries of the call are appended, or none: every argument is
--    checked and the backlog limit applied before the first XADD, and the
--    script runs atomically.
-- 2. With a key, the marker is written in the same atomic call as the
--    entries, so a retry of a request whose first attempt reached Redis finds
--    the marker and appends nothing (stored once), and a retry of one whose
--    first attempt did not reach Redis appends (stored once).

local stream, marker = KEYS[1], KEYS[2]
local limit, ttl, fp, group = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
if not limit or not ttl or ttl < 0 then
  return redis.error_reply('ERR append: bad limit or ttl')
end
if ttl > 0 then
  local prev = redis.call('HMGET', marker, 'n', 'fp')
  if prev[1] then return {tonumber(prev[1]), 1, prev[2]} end
end

-- Check the layout before the first write (invariant 1).
local i, n = 5, 0
while i <= #ARGV do
  local f = tonumber(ARGV[i])
  if not f or f < 2 or f % 2 ~= 0 or i + f > #ARGV then
    return redis.error_reply('ERR append: bad entry layout at argument ' .. i)
  end
  i = i + 1 + f
  n = n + 1
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
if limit > 0 and backlog() >= limit then
  return redis.error_reply('BACKLOG stream ' .. stream .. ' holds ' .. limit .. ' or more unprocessed entries')
end

i = 5
while i <= #ARGV do
  local f = tonumber(ARGV[i])
  redis.call('XADD', stream, '*', unpack(ARGV, i + 1, i + f))
  i = i + 1 + f
end
if ttl > 0 then
  redis.call('HSET', marker, 'n', n, 'fp', fp)
  redis.call('PEXPIRE', marker, ttl)
end
return {n, 0, fp}
