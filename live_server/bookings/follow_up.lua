-- One follow-up of a booking step on one hash tag, counted once: the tag's "applied"
-- marker is written in the same step as the counters, so the request that made the step
-- and the repair pass (after a crash) may both run it and it still counts once.
-- KEYS[1] the tag's applied marker (keys.*_follow_up_applied)   ARGV[1] form
-- ARGV[2] the marker's TTL (s)
-- 'created-room':       KEYS[2] room stats, KEYS[3] booked slots; ARGV[3] total field,
--                       [4] per-store field, [5] slot ts, [6] "<store>|<booking>",
--                       [7] guide tasks field ('' = no guide), [8] source, [9] per-store
--                       preview field
-- 'created-customer':   KEYS[2] profile, KEYS[3] booked-stores set; ARGV[3] active:<store>,
--                       [4] booked at (ISO), [5] store id
-- 'cancelled-room':     KEYS[2] room stats, KEYS[3] booked slots; ARGV[3] total field,
--                       [4] per-store field, [5] "<store>|<booking>"
-- 'cancelled-customer': KEYS[2] profile, KEYS[3] booked-stores set; ARGV[3] active:<store>,
--                       [4] store id
-- 'arrived-room':       KEYS[2] room stats, KEYS[3] arrived slots; ARGV[3] total field,
--                       [4] per-store field, [5] slot ts, [6] "<store>|<booking>",
--                       [7] guide arrivals field ('' = no guide)
-- 'arrived-customer':   KEYS[2] profile; ARGV[3] last visit (ms)
-- 'board':              KEYS[2] the brand's leaderboard of the day; ARGV[3] its retention
--                       (s), ARGV[4..] the fields to count
-- Returns {'applied' | 'already', the room's total bookings ('created-room'; else 0)}
local form = ARGV[1]
local function total()
  if form == 'created-room' then
    return tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
  end
  return 0
end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  return {'already', total()}
end
if form == 'created-room' then
  redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
  redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
  if ARGV[7] ~= '' then
    redis.call('HINCRBY', KEYS[2], ARGV[7], 1)
  end
  if ARGV[8] == 'preview' then  -- a pre-booking, counted apart too
    redis.call('HINCRBY', KEYS[2], 'total:preview_bookings', 1)
    redis.call('HINCRBY', KEYS[2], ARGV[9], 1)
  end
elseif form == 'created-customer' then
  redis.call('HINCRBY', KEYS[2], 'bookings', 1)
  redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
  redis.call('HSET', KEYS[2], 'last_booking_at', ARGV[4])
  redis.call('SADD', KEYS[3], ARGV[5])
elseif form == 'cancelled-room' then
  redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
  redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
  redis.call('ZREM', KEYS[3], ARGV[5])
elseif form == 'cancelled-customer' then
  redis.call('HINCRBY', KEYS[2], 'cancellations', 1)
  if redis.call('HINCRBY', KEYS[2], ARGV[3], -1) <= 0 then
    redis.call('SREM', KEYS[3], ARGV[4])
  end
elseif form == 'arrived-room' then
  redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
  redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
  if ARGV[7] ~= '' then
    redis.call('HINCRBY', KEYS[2], ARGV[7], 1)
  end
elseif form == 'arrived-customer' then
  redis.call('HINCRBY', KEYS[2], 'visits', 1)
  redis.call('HSET', KEYS[2], 'last_visit_ms', ARGV[3])
elseif form == 'board' then
  for i = 4, #ARGV do
    redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
  end
  redis.call('EXPIRE', KEYS[2], ARGV[3])
else
  return redis.error_reply('follow_up.lua: unknown form ' .. tostring(form))
end
return {'applied', total()}
