-- markers.lua — Idempotency-Key markers shared by many keys, joined in
-- front of append.lua and checkkey.lua (docs/architecture.md, "Idempotency
-- markers"). Its comments are dropped and its lines joined into one, so it
-- has no "--" but its comments.
--
-- A marker is a field of the hash gs:{T}:markers:<L>:<s>:<b>: L the slice
-- length in ms (the TTL), s the time slice (Unix ms / L), b the bucket
-- (a hash of the key mod the slice's bucket count). The field is 8 bytes of
-- a hash of the key, the value 8 bytes of the request's fingerprint and the
-- points stored, in decimal: small enough that a hash of up to ~128 fields
-- stays a listpack. A slice's hashes expire whole at (s + 2) * L, so a key
-- is kept at least L and is found in slice s or s + 1.
--
-- The layout hash gs:{T}:markers holds per L: "<L>:s" the current slice,
-- "<L>:b" its bucket count, "<L>:p" the bucket count of slice s - 1 (0: it
-- has no hashes), "<L>:n" the markers written in slice s. The caller names
-- the hashes (Redis Cluster: every key in KEYS) from the layout it cached;
-- a call whose layout is not Redis's answers "STALE s b p" and writes no
-- marker. The first write of slice c rolls the layout: the new bucket count
-- fits the previous slice's markers into hashes of ~mk_per_hash fields
-- (mk_first buckets with no previous slice: a few small hashes at a low
-- rate, listpacks up to ~2000 keys a slice at a high one).
--
-- A legacy marker (gs:{T}:idem:<key>, one hash per key with fields n, fp)
-- is still read: they expire within 24 h of the upgrade.

local mk_per_hash, mk_first = 64, 16

local function mk_buckets(n)
  local b = 1
  while b * mk_per_hash < n and b < 4096 do b = b * 2 end
  return b
end

-- mk_layout checks the caller's layout (slice c, bucket counts b of slice
-- c and p of slice c - 1) and returns nil when it is Redis's, else the
-- STALE error. With roll, a slice c newer than the layout's is started.
local function mk_layout(meta, L, c, b, p, roll)
  local m = redis.call('HMGET', meta, L .. ':s', L .. ':b', L .. ':p', L .. ':n')
  local ms, mb, mp, mn = tonumber(m[1]), tonumber(m[2]) or mk_first, tonumber(m[3]) or 0, tonumber(m[4]) or 0
  if ms and c < ms then
    return redis.error_reply('STALE ' .. ms .. ' ' .. mb .. ' ' .. mp)
  end
  if not ms or c > ms then
    local nb, np = mb, 0
    if ms == c - 1 then nb, np = mk_buckets(mn), mb end
    if not roll then
      if np == 0 or p == np then return nil end
      return redis.error_reply('STALE ' .. ms .. ' ' .. mb .. ' ' .. mp)
    end
    redis.call('HSET', meta, L .. ':s', c, L .. ':b', nb, L .. ':p', np, L .. ':n', 0)
    ms, mb, mp = c, nb, np
  end
  if b == mb and (mp == 0 or p == mp) then return nil end
  return redis.error_reply('STALE ' .. ms .. ' ' .. mb .. ' ' .. mp)
end

-- mk_find returns the points stored and the fingerprint of the key's
-- marker, nil when there is none.
local function mk_find(legacy, cur, prev, field)
  local v = redis.call('HGET', cur, field) or redis.call('HGET', prev, field)
  if v then return tonumber(string.sub(v, 9)), string.sub(v, 1, 8) end
  v = redis.call('HGET', legacy, 'fp')
  if v then return tonumber(redis.call('HGET', legacy, 'n')), v end
  return nil
end

-- mk_write remembers the key: n points stored with fingerprint fp. done
-- is the call's set of hashes whose expiry is set already.
local function mk_write(cur, field, fp, n, at, done)
  redis.call('HSET', cur, field, fp .. n)
  if not done[cur] then
    redis.call('PEXPIREAT', cur, at)
    done[cur] = true
  end
end

-- mk_count adds a call's w markers to its slice's count.
local function mk_count(meta, L, w)
  if w > 0 then redis.call('HINCRBY', meta, L .. ':n', w) end
end
