-- A token-bucket rate limiter: the same algorithm as src/lib.rs, for
-- redis-server (and the benchmark against it).
-- KEYS[1] the bucket, a hash {tokens, ts}; ARGV capacity, refill rate in
-- tokens per second, tokens requested (default 1).
-- Replies {allowed (1/0), tokens left (rounded down)}.
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local requested = tonumber(ARGV[3] or '1')
if not capacity or not rate or not requested then
    return redis.error_reply('ERR value is not a valid float')
end
if not (capacity > 0 and rate > 0 and requested >= 0) then
    return redis.error_reply('ERR capacity and rate must be positive, requested not negative')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', key, 'tokens', 'ts')
local elapsed_s = math.max(0, now - (tonumber(state[2]) or now)) / 1000
local tokens = math.min(capacity, (tonumber(state[1]) or capacity) + elapsed_s * rate)
local allowed = 0
if tokens >= requested then
    tokens = tokens - requested
    allowed = 1
end
redis.call('HSET', key, 'tokens', tokens, 'ts', now)
local ttl_ms = math.min(math.max(math.ceil(capacity / rate * 1000), 1), 1e12)
redis.call('PEXPIRE', key, ttl_ms)
return {allowed, math.floor(tokens)}
