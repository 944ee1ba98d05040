-- Monotonic ack of a staff connection: never move a token's last acked id backwards.
-- KEYS[1] store acked hash ({store:S}:acked)   ARGV[1] token id   ARGV[2] stream id <ms>-<seq>
-- Returns the id stored after the call.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local cm, cs = parse(current)
  local nm, ns = parse(ARGV[2])
  if cm and (nm < cm or (nm == cm and ns <= cs)) then
    return current
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
