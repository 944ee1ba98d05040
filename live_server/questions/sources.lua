-- Local functions for split.lua and merge.lua: a card's askers per source, recounted from
-- its askers set after a host's correction moved askers (ingest.lua counts them one by one
-- as they arrive). An asker's id names its source: g:<group>:<author> (a community group),
-- v:<viewer> (the widget), p:<platform>:<user> (a live comment).
local function source_of(asker)
  local kind, rest = string.match(asker, '^(%a):(.*)$')
  if kind == 'g' then return 'group' end
  if kind == 'v' then return 'viewer' end
  if kind == 'p' then return 'live_comment:' .. (string.match(rest, '^([^:]*)') or '') end
  return nil
end

local function recount_sources(card_key, askers_key)
  for _, field in ipairs(redis.call('HKEYS', card_key)) do
    if string.sub(field, 1, 4) == 'src:' then redis.call('HDEL', card_key, field) end
  end
  local counts = {}
  for _, asker in ipairs(redis.call('SMEMBERS', askers_key)) do
    local source = source_of(asker)
    if source then counts[source] = (counts[source] or 0) + 1 end
  end
  for source, n in pairs(counts) do redis.call('HSET', card_key, 'src:' .. source, n) end
end
