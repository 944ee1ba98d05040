-- The follow-up of a booking: the room's funnel ({room:R}) and the customer ({cust:V}); run
-- once by the request whose book.lua call made the booking.
-- Room:     KEYS[1] room stats hash; ARGV = 'room', total field, per-store field
--           -> the room's total bookings
-- Customer: KEYS[1] customer profile, KEYS[2] booked-stores set;
--           ARGV = 'customer', active:<store> field, booked at (ISO), store id -> 1
-- Both:     KEYS = room stats, customer profile, booked-stores set; ARGV = 'both', total
--           field, per-store field, active:<store> field, booked at, store id -> room total.
--           One node only (the keys carry different hash tags); a cluster runs the two above.
local function customer(profile, stores, active, at, store)
  redis.call('HINCRBY', profile, 'bookings', 1)
  redis.call('HINCRBY', profile, active, 1)
  redis.call('HSET', profile, 'last_booking_at', at)
  redis.call('SADD', stores, store)
end
if ARGV[1] == 'customer' then
  customer(KEYS[1], KEYS[2], ARGV[2], ARGV[3], ARGV[4])
  return 1
end
local total = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
if ARGV[1] == 'both' then
  customer(KEYS[2], KEYS[3], ARGV[4], ARGV[5], ARGV[6])
end
return total
