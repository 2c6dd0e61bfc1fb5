-- geofill.lua — put a partition's devices' last positions in its geo index,
-- for a deployment upgraded from a version without the index (the apply
-- scripts keep it from then on). Each position is read from the device's
-- hash in this call, so it is the current one whatever the processors
-- write meanwhile, and filling twice does no harm.
--
-- KEYS[1]        the partition's geo index
-- KEYS[2..]      device hashes of that partition
-- ARGV[i]        the id of the device of KEYS[i + 1]
-- Returns the number of devices with a last position (indexed, or left
-- out beyond the index's latitudes by geoset).
local geoidx = KEYS[1]
local gtype = redis.call('TYPE', geoidx)['ok']
if gtype ~= 'zset' and gtype ~= 'none' then
  return redis.error_reply('ERR geofill: ' .. geoidx .. ' is not a sorted set')
end
if #ARGV ~= #KEYS - 1 then
  return redis.error_reply('ERR geofill: one device id per device hash')
end
local n = 0
for i = 2, #KEYS do
  local cur = redis.pcall('HMGET', KEYS[i], 'llat', 'llon')
  if type(cur) == 'table' and not cur.err and cur[1] and cur[2] and tonumber(cur[1]) and tonumber(cur[2]) then
    geoset(geoidx, ARGV[i - 1], cur[1], cur[2])
    n = n + 1
  end
end
return n
