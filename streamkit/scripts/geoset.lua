-- geoset.lua — the last-position helpers of apply.lua and applysums.lua, put
-- in front of them with token.lua (withPrelude in scripts.go); the same
-- rules apply: "--" in comments only.

-- geoset(key, member, lat, lon) puts a device's last position (integers in
-- 1e-7 degrees, or their strings) in its partition's geo index, for the
-- near and bbox queries of GET /devices. GEOADD refuses a latitude beyond
-- 85.05112878 degrees (Redis's geo range), so a device whose last position
-- is there leaves the index instead (ZREM): those queries never return it
-- (docs/architecture.md, "Geo index"). A longitude beyond 180 degrees is
-- refused by ingest; it is kept out too, so that geoset cannot fail on a
-- sorted set (or no key) and may follow a script's first write.
local function geoset(key, member, lat, lon)
  lat, lon = tonumber(lat), tonumber(lon)
  if math.abs(lat) <= 850511287 and math.abs(lon) <= 1800000000 then
    redis.call('GEOADD', key, string.format('%.7f', lon / 1e7), string.format('%.7f', lat / 1e7), member)
  else
    redis.call('ZREM', key, member)
  end
end

-- later orders positions by (time, lat, lon), so that a device's last
-- position does not depend on the order its entries are counted in, even
-- when two share a timestamp (apply.lua, invariant 4).
local function later(t, lat, lon, t0, lat0, lon0)
  if t ~= t0 then return t > t0 end
  if lat ~= lat0 then return lat > lat0 end
  return lon > lon0
end
