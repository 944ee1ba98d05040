-- Give up on one entry for a consumer group: ack it and copy it to the dead-letter stream.
-- KEYS[1] store stream   KEYS[2] dead-letter stream (same {store:S} tag)
-- ARGV[1] group  ARGV[2] entry id  ARGV[3] consumer  ARGV[4] deliveries  ARGV[5] now (ms)
-- Returns 1 if moved, 0 if the entry was no longer pending (another consumer handled it).
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
local args = {'XADD', KEYS[2], '*'}
local found = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #found > 0 then
  for _, value in ipairs(found[1][2]) do
    args[#args + 1] = value
  end
end
for _, value in ipairs({'orig_id', ARGV[2], 'group', ARGV[1], 'consumer', ARGV[3],
                        'deliveries', ARGV[4], 'dead_at', ARGV[5]}) do
  args[#args + 1] = value
end
redis.call(unpack(args))
return 1
