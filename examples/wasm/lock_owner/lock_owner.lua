-- The owner-checked operations of a `SET key token NX PX ms` lock: the Lua twin of
-- src/lib.rs (same keys, arguments and replies).
-- EVAL <this> 1 <lock key> release <token>        -> 1 released, 0 not the holder
-- EVAL <this> 1 <lock key> extend <token> <ms>    -> 1 extended to <ms>, 0 not the holder
local op = ARGV[1]
if op ~= 'release' and op ~= 'extend' then
    return redis.error_reply('ERR unknown operation, use release or extend')
end
if redis.call('GET', KEYS[1]) ~= ARGV[2] then
    return 0
end
if op == 'release' then
    redis.call('DEL', KEYS[1])
else
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
