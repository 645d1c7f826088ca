-- Hand a counter hash to a flusher: the Lua twin of src/lib.rs.
-- EVAL <this> 2 <live hash> <batch key>  -> the batch as {field, count, field, count, ...}
-- An existing batch key (a flush that died before writing) is returned as it is.
if redis.call('EXISTS', KEYS[2]) == 0 then
    if redis.call('EXISTS', KEYS[1]) == 0 then
        return {}
    end
    redis.call('RENAME', KEYS[1], KEYS[2])
end
return redis.call('HGETALL', KEYS[2])
