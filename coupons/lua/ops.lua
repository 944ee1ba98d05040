-- Ops actions on one code, audited in the campaign's audit stream.
-- KEYS[1] {camp:C}:meta  KEYS[2] {camp:C}:codes  KEYS[3] {camp:C}:audit
-- ARGV[1] action: 'void' | 'rollback', ARGV[2] nonce, ARGV[3] now (ms), ARGV[4] who, ARGV[5] reason
-- Returns {'ok', previous_status, store, amount, redeemed_at} | {'unknown'}
--   | {'already_void'} | {'redeemed', redeemed_at, store} (void refused) | {'not_redeemed', status}
local raw = redis.call('HGET', KEYS[2], ARGV[2])
if not raw then return {'unknown'} end
local rec = cjson.decode(raw)
local before = rec.s
local store, amount, redeemed_at = rec.st or '', rec.a or '', rec.r or ''
if ARGV[1] == 'void' then
  if rec.s == 'void' then return {'already_void'} end
  if rec.s == 'redeemed' then return {'redeemed', rec.r, rec.st} end
  rec.s = 'void'
  rec.x = ARGV[3]
else
  if rec.s ~= 'redeemed' then return {'not_redeemed', rec.s} end
  rec.s = 'claimed'
  rec.r = nil
  rec.st = nil
  rec.a = nil
  rec.by = nil
  rec.sa = nil
  redis.call('HINCRBY', KEYS[1], 'redeemed', -1)
end
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(rec))
redis.call('XADD', KEYS[3], '*', 'action', ARGV[1], 'code', ARGV[2], 'before', before,
  'store', store, 'amount', amount, 'redeemed_at', redeemed_at, 'by', ARGV[4], 'reason', ARGV[5], 'ts', ARGV[3])
return {'ok', before, store, amount, redeemed_at}
