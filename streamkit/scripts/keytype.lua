-- keytype.lua — the key-type checks of the counting scripts (apply.lua,
-- applysums.lua), joined in front of them with token.lua and geoset.lua
-- (withPrelude). Their invariant 2: nothing is written before every key
-- is known to be of the type the script writes, or absent.

-- bad_type returns an error reply naming key when it exists with a type
-- other than want (noun names want in the error), else nil and whether
-- key is absent.
local function bad_type(script, key, want, noun)
  local t = redis.call('TYPE', key)['ok']
  if t ~= want and t ~= 'none' then
    return redis.error_reply('ERR ' .. script .. ': ' .. key .. ' is not a ' .. (noun or want))
  end
  return nil, t == 'none'
end

-- bad_partition_keys checks the partition's device index, backlog counter
-- and geo index.
local function bad_partition_keys(script, index, counter, geoidx)
  return bad_type(script, index, 'zset', 'sorted set')
    or bad_type(script, counter, 'string', 'counter')
    or bad_type(script, geoidx, 'zset', 'sorted set')
end
