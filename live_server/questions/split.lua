-- A host splits askers off a card into a NEW card (they asked something else). One hash
-- tag ({room:R}); all or nothing. The askers move with their own question (the asked
-- hash); the new card's text is the first of them to have asked. Askers, groups and
-- stores are recounted on both cards; votes stay with the original, which keeps its
-- status. The new card is appended to the room's index list (every worker learns it) and
-- the split mark set, so ingest.lua refuses merges from workers that have not seen it.
-- KEYS: 1 card hash, 2 askers set, 3 groups set, 4 stores set, 5 asked hash,
--       6 new card hash, 7 new askers set, 8 new groups set, 9 new stores set,
--       10 new asked hash, 11 index list, 12 timeline zset, 13 room stats, 14 split mark
-- ARGV: 1 card id, 2 new card id, 3 now ms,
--       4 askers to move (JSON list; '' = the most recent asker to join, never the first)
-- Returns {code, ...}: {'ok', new card id, askers moved} | {'missing'}
--       | {'refused', status} (a merged card has no askers of its own)
--       | {'whole'} (nothing would stay: one asker only, or every asker named)
--       | {'absent', asker} (not on this card, e.g. split off meanwhile)
--       | {'taken'} (the new card id exists: reserve another)
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status == 'merged' then return {'refused', status} end
if redis.call('EXISTS', KEYS[6]) == 1 then return {'taken'} end

-- asker -> {raw JSON, decoded [n, asked_ms, group, store, text]}; none for askers
-- of cards older than the asked hash
local records = {}
local flat = redis.call('HGETALL', KEYS[5])
for i = 1, #flat, 2 do records[flat[i]] = {flat[i + 1], cjson.decode(flat[i + 1])} end
local function arrival(asker)
  local r = records[asker]
  if r then return tonumber(r[2][1]) end
  return 0
end
local function by_arrival(a, b)
  local x, y = arrival(a), arrival(b)
  if x ~= y then return x < y end
  return a < b
end

local askers = redis.call('SMEMBERS', KEYS[2])
local moving = {}
if ARGV[4] == '' then
  if #askers < 2 then return {'whole'} end
  table.sort(askers, by_arrival)
  moving = {askers[#askers]}
else
  local named = {}
  for _, asker in ipairs(cjson.decode(ARGV[4])) do
    if not named[asker] then
      if redis.call('SISMEMBER', KEYS[2], asker) == 0 then return {'absent', asker} end
      named[asker] = true
      moving[#moving + 1] = asker
    end
  end
  if #moving >= #askers then return {'whole'} end
  table.sort(moving, by_arrival)
end

-- An asker without a record ("g:<group>:<author>"): its group is the longest of the
-- card's groups its key starts with; its store is unknown.
local old_groups = redis.call('SMEMBERS', KEYS[3])
local function group_of(asker)
  local r = records[asker]
  if r then return r[2][3] end
  local best = ''
  for _, g in ipairs(old_groups) do
    local prefix = 'g:' .. g .. ':'
    if string.sub(asker, 1, #prefix) == prefix and #g > #best then best = g end
  end
  return best
end

local now = ARGV[3]
local card = redis.call('HMGET', KEYS[1], 'text', 'lane', 'held_reason')
local first = records[moving[1]]
local text = card[1]
if first then text = first[2][5] end
local lane = card[2] or 'open'
local asked, asks = 0, 0
for _, asker in ipairs(moving) do
  redis.call('SREM', KEYS[2], asker)
  redis.call('SADD', KEYS[7], asker)
  local group = group_of(asker)
  if group ~= '' then redis.call('SADD', KEYS[8], group) end
  local r = records[asker]
  if r then
    redis.call('HDEL', KEYS[5], asker)
    redis.call('HSET', KEYS[10], asker, r[1])
    if r[2][4] ~= '' then redis.call('SADD', KEYS[9], r[2][4]) end
    asked = math.max(asked, tonumber(r[2][2]))
    asks = math.max(asks, tonumber(r[2][1]))
  end
end

-- The original card: groups and stores of the askers who stay (its stores are kept as
-- they were while an asker without a record stays: its store cannot be known).
local groups, stores, unknown, last = {}, {}, false, 0
for _, asker in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local group = group_of(asker)
  if group ~= '' then groups[group] = true end
  local r = records[asker]
  if r then
    if r[2][4] ~= '' then stores[r[2][4]] = true end
    last = math.max(last, tonumber(r[2][2]))
  elseif string.sub(asker, 1, 2) == 'g:' then
    unknown = true
  end
end
redis.call('DEL', KEYS[3])
for group in pairs(groups) do redis.call('SADD', KEYS[3], group) end
if not unknown then
  redis.call('DEL', KEYS[4])
  for store in pairs(stores) do redis.call('SADD', KEYS[4], store) end
end
redis.call('HSET', KEYS[1], 'askers', redis.call('SCARD', KEYS[2]),
  'groups', redis.call('SCARD', KEYS[3]), 'updated_ms', now)
if last > 0 and not unknown then redis.call('HSET', KEYS[1], 'asked_ms', last) end

-- The new card: open (held only when split off a card still held for review).
local new_status, held_reason = 'new', ''
if status == 'held' then new_status, held_reason = 'held', card[3] or '' end
if asked == 0 then asked = now end
redis.call('HSET', KEYS[6], 'id', ARGV[2], 'text', text, 'status', new_status, 'lane', lane,
  'held_reason', held_reason, 'created_ms', now, 'updated_ms', now, 'asked_ms', asked,
  'askers', redis.call('SCARD', KEYS[7]), 'groups', redis.call('SCARD', KEYS[8]), 'votes', 0,
  'asks', asks, 'split_from', ARGV[1])
recount_sources(KEYS[1], KEYS[2])
recount_sources(KEYS[6], KEYS[7])
redis.call('RPUSH', KEYS[11], cmsgpack.pack({ARGV[2], lane, text}))
redis.call('SET', KEYS[14], redis.call('LLEN', KEYS[11]))
redis.call('ZADD', KEYS[12], now, ARGV[2])
redis.call('HINCRBY', KEYS[13], 'total:question_cards', 1)
return {'ok', ARGV[2], #moving}
