-- The follow-up of a booking on one hash tag: the room's funnel ({room:R}) or the customer
-- ({cust:V}); run once by the request whose book.lua call made the booking.
-- Room:     KEYS[1] room stats hash, KEYS[2] room's booked slots; ARGV = 'room', total
--           field, per-store field, slot ts, "<store>|<booking>", guide tasks field ('' =
--           no guide), source ('live'|'preview'), per-store preview field -> the room's
--           total bookings
-- Customer: KEYS[1] customer profile, KEYS[2] booked-stores set;
--           ARGV = 'customer', active:<store> field, booked at (ISO), store id -> 1
if ARGV[1] == 'room' then
  local total = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
  redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
  if ARGV[6] ~= '' then
    redis.call('HINCRBY', KEYS[1], ARGV[6], 1)
  end
  if ARGV[7] == 'preview' then  -- a pre-booking, counted apart too
    redis.call('HINCRBY', KEYS[1], 'total:preview_bookings', 1)
    redis.call('HINCRBY', KEYS[1], ARGV[8], 1)
  end
  return total
end
redis.call('HINCRBY', KEYS[1], 'bookings', 1)
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('HSET', KEYS[1], 'last_booking_at', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
