-- Sell a held seat: the Lua twin of src/lib.rs.
-- EVAL <this> 1 <seat key> <buyer> <channel>  -> 1 sold, 0 the buyer holds no such seat
if redis.call('GET', KEYS[1]) ~= 'held:' .. ARGV[1] then
    return 0
end
redis.call('SET', KEYS[1], 'sold:' .. ARGV[1])
redis.call('PUBLISH', ARGV[2], 'sold ' .. KEYS[1] .. ' ' .. ARGV[1])
return 1
