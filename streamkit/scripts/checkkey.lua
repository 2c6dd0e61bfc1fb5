-- checkkey.lua — read an Idempotency-Key's marker in one partition, writing
-- nothing: ingest-svc checks every partition before a keyed request stores
-- anything, so that a key reused for other content is refused (422) before
-- any partition stores it. markers.lua is joined in front of it.
--
-- KEYS[1]   the partition's marker layout
-- KEYS[2]   the key's legacy marker (one hash per key)
-- KEYS[3]   the key's marker hash of slice c, KEYS[4] of slice c - 1
-- ARGV      slice length L (ms), slice c, bucket counts of slices c and
--           c - 1 as the caller named them, the key's marker field
-- Returns the fingerprint of the key's marker (8 bytes; 32 hex digits for
-- a legacy marker), false when there is none, or the error "STALE s b p"
-- when the caller's layout is not Redis's (it names the hashes again).

local L, c, b, p, field = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
if #KEYS ~= 4 or not c or not b or not p or field == '' then
  return redis.error_reply('ERR checkkey: bad arguments')
end
local stale = mk_layout(KEYS[1], L, c, b, p, false)
if stale then return stale end
local _, fp = mk_find(KEYS[2], KEYS[3], KEYS[4], field)
return fp or false
