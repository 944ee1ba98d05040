-- Accept one question into a room: replay guard, room live, rate limits, then either a
-- new card or a merge into an existing one. One hash tag ({room:R}); nothing is written
-- unless every check passes.
-- KEYS: 1 room meta, 2 replay guard, 3 author rate, 4 group rate, 5 dedup index list,
--       6 card hash, 7 askers set, 8 groups set, 9 stores set, 10 timeline zset, 11 room stats,
--       12 askers' own questions hash, 13 split mark
-- ARGV: 1 mode (new|merge), 2 expected index length (new) | the caller's index length (merge),
--       3 question id, 4 text, 5 lane,
--       6 held reason, 7 asker key, 8 group id, 9 store id, 10 now ms, 11 check replay (1|0),
--       12 replay ttl s, 13 author limit (0 none), 14 author window ms, 15 group limit,
--       16 group window ms, 17 index entry (msgpack [id, lane, text]),
--       18 source label ('' none; "group", "viewer", "live_comment:<platform>": askers per source),
--       19 similar card id (new: a card close to this question but not merged; '' none)
-- Returns {code, ...}: {'dup', id} | {'noroom'} | {'notlive', status} | {'rl', who, pttl}
--       | {'stale', entries since ARGV[2]} | {'gone'} | {'moved', id of the card it was merged into}
--       | {'created'|'merged', id, askers, new asker (1|0), card hash (flat), group ids, store ids}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'noroom'} end
if ARGV[11] == '1' then
  local seen = redis.call('GET', KEYS[2])
  if seen then return {'dup', seen} end
end
if status ~= 'live' then return {'notlive', status} end

local function over(key, limit)
  if tonumber(limit) <= 0 then return false end
  local n = tonumber(redis.call('GET', key) or '0')
  return n >= tonumber(limit)
end
if over(KEYS[3], ARGV[13]) then return {'rl', 'author', redis.call('PTTL', KEYS[3])} end
if over(KEYS[4], ARGV[15]) then return {'rl', 'group', redis.call('PTTL', KEYS[4])} end

local mode, qid, now = ARGV[1], ARGV[3], ARGV[10]
if mode == 'new' then
  -- Optimistic version check: cards created since the caller's index copy come back
  -- with the refusal, so it can match again without another round trip.
  if redis.call('LLEN', KEYS[5]) ~= tonumber(ARGV[2]) then
    return {'stale', redis.call('LRANGE', KEYS[5], ARGV[2], -1)}
  end
  if redis.call('EXISTS', KEYS[6]) == 1 then return {'stale', {}} end
else
  if redis.call('EXISTS', KEYS[6]) == 0 then return {'gone'} end
  -- A card a host split off after the caller's index copy: match again knowing it.
  if tonumber(redis.call('GET', KEYS[13]) or '0') > tonumber(ARGV[2]) then
    return {'stale', redis.call('LRANGE', KEYS[5], ARGV[2], -1)}
  end
  -- A card a host merged into another: questions that match it go to that one.
  local merged = redis.call('HMGET', KEYS[6], 'status', 'merged_into')
  if merged[1] == 'merged' then return {'moved', merged[2]} end
end

local function bump(key, limit, window)
  if tonumber(limit) <= 0 then return end
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, window) end
end
bump(KEYS[3], ARGV[13], ARGV[14])
bump(KEYS[4], ARGV[15], ARGV[16])

local new_asker = redis.call('SADD', KEYS[7], ARGV[7])
if new_asker == 1 then  -- the asker's own question: a host's split moves it with them
  redis.call('HSET', KEYS[12], ARGV[7],
    cjson.encode({redis.call('HINCRBY', KEYS[6], 'asks', 1), now, ARGV[8], ARGV[9], ARGV[4]}))
end
if new_asker == 1 and ARGV[18] and ARGV[18] ~= '' then
  redis.call('HINCRBY', KEYS[6], 'src:' .. ARGV[18], 1)
end
if ARGV[8] ~= '' then
  if redis.call('SADD', KEYS[8], ARGV[8]) == 1 then redis.call('HINCRBY', KEYS[6], 'groups', 1) end
end
if ARGV[9] ~= '' then redis.call('SADD', KEYS[9], ARGV[9]) end
if ARGV[11] == '1' then redis.call('SET', KEYS[2], qid, 'EX', ARGV[12]) end
redis.call('HINCRBY', KEYS[11], 'total:questions', 1)
if ARGV[9] ~= '' then redis.call('HINCRBY', KEYS[11], ARGV[9] .. ':questions', 1) end

if mode == 'new' then
  local status_new = 'new'
  if ARGV[5] == 'held' then status_new = 'held' end
  redis.call('HSET', KEYS[6], 'id', qid, 'text', ARGV[4], 'status', status_new, 'lane', ARGV[5],
    'held_reason', ARGV[6], 'created_ms', now, 'updated_ms', now, 'asked_ms', now,
    'askers', 1, 'votes', 0)
  if ARGV[19] and ARGV[19] ~= '' then redis.call('HSET', KEYS[6], 'similar_to', ARGV[19]) end
  redis.call('HINCRBY', KEYS[6], 'groups', 0)
  redis.call('RPUSH', KEYS[5], ARGV[17])
  redis.call('ZADD', KEYS[10], now, qid)
  redis.call('HINCRBY', KEYS[11], 'total:question_cards', 1)
  return {'created', qid, 1, 1, redis.call('HGETALL', KEYS[6]), redis.call('SMEMBERS', KEYS[8]),
    redis.call('SMEMBERS', KEYS[9])}
end
local askers = tonumber(redis.call('HGET', KEYS[6], 'askers') or '0')
if new_asker == 1 then
  askers = redis.call('HINCRBY', KEYS[6], 'askers', 1)
  redis.call('HSET', KEYS[6], 'updated_ms', now, 'asked_ms', now)
end
-- The card comes back with the answer: no second round trip to publish it.
return {'merged', qid, askers, new_asker, redis.call('HGETALL', KEYS[6]),
  redis.call('SMEMBERS', KEYS[8]), redis.call('SMEMBERS', KEYS[9])}
