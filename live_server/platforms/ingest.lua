-- Count a batch of platform messages in a room, each message id once.
-- One hash tag ({room:R}). KEYS[1] room meta, KEYS[2] room stats, KEYS[3] seen set of the
-- current bucket, KEYS[4], KEYS[5] the two buckets before.
-- ARGV[1] TTL of the current bucket (s), ARGV[2] JSON [[dedup id, {counter: delta}], ...];
-- a counter named "=name" is set (not added); "=platform_viewers" also raises the peak.
-- Returns {room status ('' no room: nothing written), flags: "1" new / "0" repeated, per message}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'', ''} end
local batch = cjson.decode(ARGV[2])
local flags = {}
local fresh_bucket = false
for i, item in ipairs(batch) do
  local id = item[1]
  if redis.call('SISMEMBER', KEYS[4], id) == 1 or redis.call('SISMEMBER', KEYS[5], id) == 1
     or redis.call('SADD', KEYS[3], id) == 0 then
    flags[i] = '0'
  else
    flags[i] = '1'
    fresh_bucket = true
    for name, delta in pairs(item[2]) do
      if string.sub(name, 1, 1) == '=' then
        local field = string.sub(name, 2)
        redis.call('HSET', KEYS[2], 'total:' .. field, delta)
        if field == 'platform_viewers' then
          local peak = tonumber(redis.call('HGET', KEYS[2], 'total:platform_viewers_peak') or '0')
          if delta > peak then redis.call('HSET', KEYS[2], 'total:platform_viewers_peak', delta) end
        end
      elseif delta ~= 0 then
        redis.call('HINCRBY', KEYS[2], 'total:' .. name, delta)
      end
    end
  end
end
if fresh_bucket and redis.call('TTL', KEYS[3]) < 0 then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
return {status, table.concat(flags)}
