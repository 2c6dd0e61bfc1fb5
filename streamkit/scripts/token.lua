-- token.lua — put in front of apply.lua and applysums.lua, on their first
-- line (withToken in scripts.go, which keeps their line numbers in Redis's
-- errors): the token a call stamps on every aggregate hash it writes
-- (applysums.lua, invariant 4; apply.lua, invariant 5). Its comments are
-- dropped there, so "--" may appear in comments only.

-- token(id) is the token an entry id stamps on a hash: the id with its two
-- numbers in base 36 ("mijy8mpf.h" for "1764400059123-17"), which keeps
-- most aggregate hashes in their memory size class (the raw id made a
-- typical bucket hash 272 bytes instead of 240). Injective: base 36 of an
-- integer below 10^15 < 2^53 is exact in Lua's doubles, and an id with a
-- longer number stays as it is (it has a '-', a short token a '.').
local function token(id)
  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
  if not ms or #ms > 15 or #seq > 15 then return id end
  local function b36(x)
    local s = ''
    repeat
      local d = x % 36
      s = string.sub('0123456789abcdefghijklmnopqrstuvwxyz', d + 1, d + 1) .. s
      x = (x - d) / 36
    until x == 0
    return s
  end
  return b36(tonumber(ms)) .. '.' .. b36(tonumber(seq))
end
