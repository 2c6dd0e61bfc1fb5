-- delidle.lua: removes the consumers of a partition's group that own no
-- pending entry and have been idle for at least a given time: the names of
-- processors that were replaced under another name (a container or host
-- renamed), whose entries the others have claimed.
--
-- KEYS[1]  the partition stream
-- ARGV[1]  the group
-- ARGV[2]  the least idle time of a consumer to remove, in ms
-- ARGV[3]  the caller's own consumer name, never removed
-- Returns the names removed.
--
-- Invariant: a consumer is removed only while it owns no pending entry.
-- XGROUP DELCONSUMER drops a removed consumer's pending entries from the
-- group: such an entry could no longer be claimed, and apply.lua counts an
-- entry only when its own XACK acknowledges it, so it would never be
-- counted. Reading the counts and removing happen in one script, so no
-- XREADGROUP, XCLAIM or XAUTOCLAIM can give the consumer an entry in
-- between.
--
-- A consumer whose idle time the server did not record is kept: miniredis
-- (v2.40) records it only on XCLAIM, so for consumers that read with
-- XREADGROUP and claim with XAUTOCLAIM, as processors do, it reports -1,
-- and nothing is ever removed there. -1 is below any least idle time, which
-- is why a negative one is refused.
--
-- A consumer that was only quiet may be removed too (Redis 7.0 leaves
-- "idle" unchanged by a read that returns nothing): its next read that
-- returns entries creates it again, a read already blocked included, and
-- it owned nothing, so nothing is lost.
local stream, group, self = KEYS[1], ARGV[1], ARGV[3]
local minIdle = tonumber(ARGV[2])
if not minIdle or minIdle < 0 then
  return redis.error_reply('ERR delidle: the least idle time must be a number of ms >= 0, got ' .. tostring(ARGV[2]))
end
local removed = {}
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f.name ~= self and f.pending == 0 and f.idle >= minIdle then
    redis.call('XGROUP', 'DELCONSUMER', stream, group, f.name)
    removed[#removed + 1] = f.name
  end
end
return removed
