-- Book one seat of a slot and make its guide's task, atomically (guides/task.lua is
-- prepended: tk_* functions).
-- KEYS[1] seats hash of the day   KEYS[2] holders hash of the day   KEYS[3] booking hash
-- KEYS[4] idempotency hash        KEYS[5] store stream
-- KEYS[6..11] the task keys (tk_keys: task, tasks, load, meta, of, timers)
--   (all on the store's tag {store:S}: what a cluster runs; the room, the per-viewer limit
--   and the customer are read before and counted after, by other calls)
-- A cluster only, KEYS[12]: the store's pending follow-ups (keys.store_follow_ups): this
--   call records "created|<booking>" there (and the task's guide as the booking's
--   task_guide field), so a crash before the follow-ups leaves them to the repair pass
-- One node only, KEYS[12..18] instead (other tags: a cluster refuses this form):
-- KEYS[12] room hash   KEYS[13] per-viewer rate counter   KEYS[14] customer profile
-- KEYS[15] customer's booked-stores set   KEYS[16] room stats hash
-- KEYS[17] room's booked slots (sorted set)   KEYS[18] the brand's leaderboard of the day
-- ARGV[1] slot_ts   ARGV[2] capacity   ARGV[3] viewer id   ARGV[4] booking id
-- ARGV[5] request fingerprint ('' = no Idempotency-Key)   ARGV[6] response JSON
-- ARGV[7] booking.created data (msgpack; on one node its last value, "customer", is nil
--   and replaced here by the customer context read from KEYS[14])
-- ARGV[8] now (ms)   ARGV[9] idempotency TTL (s)
-- ARGV[10] expire-at (unix s) of the booking   ARGV[11] expire-at of the day's hashes (the
-- same for every slot of the day: set when a slot takes its first seat)
-- ARGV[12] index of the first booking hash field in ARGV (field, value pairs to the end)
-- ARGV[13] the task plan (msgpack map, guides/models.py TaskPlan; '' = no task)
-- One node, ARGV[14..21]: sha1 of the room's status, featured list, title and product on
--   screen the caller used (status .. '\0' .. featured .. '\0' .. title .. '\0' .. product)
--   (a scheduled room with a scheduled_at takes pre-bookings), per-viewer limit
--   (0: none), its counter's TTL (s), room total field,
--   room per-store field, customer active:<store> field, booked at (ISO), store id
-- Returns {'ok', seats taken, stream id, task guide, task priority, task stream id[, room
--          total, bookings, visits, cancellations, customer since]}
--       | {'dup', booking id, fingerprint, response}
--       | {'held', booking id} | {'full', seats taken}
--       | one node: {'limited', count} | {'room', status or ''}
--       | {'stale', status, featured, title, product} (the caller's room fields are old)
local one_node = #KEYS > 12
local preview = false
if one_node and ARGV[15] ~= '0' then
  local n = redis.call('INCR', KEYS[13])
  if n == 1 then
    redis.call('EXPIRE', KEYS[13], ARGV[16])
  end
  if n > tonumber(ARGV[15]) then
    return {'limited', n}
  end
end
if ARGV[5] ~= '' then
  local prior = redis.call('HMGET', KEYS[4], 'booking_id', 'fingerprint', 'response')
  if prior[1] then
    return {'dup', prior[1], prior[2], prior[3]}
  end
end
if one_node then
  local room = redis.call('HMGET', KEYS[12], 'status', 'featured', 'title', 'product',
                          'scheduled_at')
  if not room[1] then
    return {'room', ''}
  end
  -- live, or scheduled with a time: a pre-booking from the broadcast's preview
  preview = room[1] == 'scheduled' and room[5] ~= false
  if room[1] ~= 'live' and not preview then
    return {'room', room[1]}
  end
  local featured, title, product = room[2] or '', room[3] or '', room[4] or ''
  if redis.sha1hex(room[1] .. '\0' .. featured .. '\0' .. title .. '\0' .. product)
      ~= ARGV[14] then
    return {'stale', room[1], featured, title, product}
  end
end
local holder = ARGV[1] .. ':' .. ARGV[3]
local held = redis.call('HGET', KEYS[2], holder)
if held then
  return {'held', held}
end
local taken = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if taken >= tonumber(ARGV[2]) then
  return {'full', tostring(taken)}
end
local data = ARGV[7]
local customer, packed_customer
local value = 0
if one_node then
  -- The customer context staff see (OneID), before this booking is counted:
  -- {viewer_id, earlier_bookings, visits, cancellations, returning, since, no_shows,
  --  orders, amount} as msgpack (a map of 9).
  customer = redis.call('HMGET', KEYS[14], 'bookings', 'visits', 'cancellations',
                        'created_at', 'no_shows', 'orders', 'amount_cents')
  local bookings = tonumber(customer[1] or '0') or 0
  local visits = tonumber(customer[2] or '0') or 0
  local cancellations = tonumber(customer[3] or '0') or 0
  local no_shows = tonumber(customer[5] or '0') or 0
  local orders = tonumber(customer[6] or '0') or 0
  local cents = tonumber(customer[7] or '0') or 0
  local pack = cmsgpack.pack
  packed_customer = '\137'
    .. pack('viewer_id') .. pack(ARGV[3])
    .. pack('earlier_bookings') .. pack(bookings)
    .. pack('visits') .. pack(visits)
    .. pack('cancellations') .. pack(cancellations)
    .. pack('returning') .. ((bookings > 0 or visits > 0) and '\195' or '\194')
    .. pack('since') .. (customer[4] and pack(customer[4]) or '\192')
    .. pack('no_shows') .. pack(no_shows)
    .. pack('orders') .. pack(orders)
    .. pack('amount') .. pack(cents / 100)
  data = string.sub(data, 1, -2) .. packed_customer
  -- Customer value for the task's priority (guides/models.py customer_value: the same).
  value = math.max(0, math.min(40, 10 * visits + 5 * orders + 2 * bookings - 5 * no_shows))
end
-- The append goes first: if it fails, nothing else has been written.
local id = redis.call('XADD', KEYS[5], '*', 'v', '1', 'type', 'booking.created',
                      'data', data, 'ts', ARGV[8])
taken = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[2], holder, ARGV[4])
redis.call('HSET', KEYS[3], 'created_stream_id', id, unpack(ARGV, tonumber(ARGV[12])))
redis.call('EXPIREAT', KEYS[3], ARGV[10])
if taken == 1 then
  redis.call('EXPIREAT', KEYS[1], ARGV[11])
  redis.call('EXPIREAT', KEYS[2], ARGV[11])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[4], 'booking_id', ARGV[4], 'fingerprint', ARGV[5], 'response', ARGV[6])
  redis.call('EXPIRE', KEYS[4], ARGV[9])
end
local task = {'', 0, ''}
if ARGV[13] ~= '' then
  local plan = cmsgpack.unpack(ARGV[13])
  if not one_node then
    packed_customer, value = plan.customer, plan.value
  end
  task = tk_create(tk_keys(6, KEYS[5]), plan, packed_customer, value)
end
if not one_node then
  -- What the follow-ups on other tags owe, kept with the booking until they are confirmed.
  redis.call('ZADD', KEYS[12], ARGV[8], 'created|' .. ARGV[4])
  if ARGV[13] ~= '' then
    redis.call('HSET', KEYS[3], 'task_guide', task[1])
  end
  return {'ok', tostring(taken), id, task[1], task[2], task[3]}
end
-- The follow-ups of the other tags, in the same step: room funnel and customer counters.
local total = redis.call('HINCRBY', KEYS[16], ARGV[17], 1)
redis.call('HINCRBY', KEYS[16], ARGV[18], 1)
redis.call('ZADD', KEYS[17], ARGV[1], ARGV[21] .. '|' .. ARGV[4])
if preview then  -- counted apart too: bookings made before the broadcast
  redis.call('HINCRBY', KEYS[16], 'total:preview_bookings', 1)
  redis.call('HINCRBY', KEYS[16], ARGV[21] .. ':preview_bookings', 1)
end
if task[1] ~= '' then
  redis.call('HINCRBY', KEYS[16], 'guide:' .. ARGV[21] .. ':' .. task[1] .. ':tasks', 1)
  redis.call('HINCRBY', KEYS[18], 'g|' .. ARGV[21] .. '|' .. task[1] .. '|tasks', 1)
end
if ARGV[13] ~= '' and redis.call('HINCRBY', KEYS[18], 's|' .. ARGV[21] .. '|tasks', 1) == 1 then
  redis.call('EXPIRE', KEYS[18], ARGV[9] * 400)  -- 400 days (keys.LEADERBOARD_RETENTION_S)
end
redis.call('HINCRBY', KEYS[14], 'bookings', 1)
redis.call('HINCRBY', KEYS[14], ARGV[19], 1)
redis.call('HSET', KEYS[14], 'last_booking_at', ARGV[20])
redis.call('SADD', KEYS[15], ARGV[21])
return {'ok', tostring(taken), id, task[1], task[2], task[3], total, customer[1] or '0',
        customer[2] or '0', customer[3] or '0', customer[4] or ''}
