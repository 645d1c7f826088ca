local function case() @BODY@ end
-- lua/test/wrap.lua: the wrapper every case runs in, on redis-server (EVAL) and in the native
-- harness alike. It calls the case under pcall and turns all its results into one printable
-- line: strings hex-escaped, numbers with %.17g, tables with sorted keys, errors as ERR(...).
local function esc(s)
  return (string.gsub(s, '[^%w_.:-]', function(c) return string.format('\\x%02x', string.byte(c)) end))
end
local function ser(v, depth)
  local t = type(v)
  if t == 'string' then return 's"' .. esc(v) .. '"'
  elseif t == 'number' then
    if v ~= v then return 'nan' end
    return 'n' .. string.format('%.17g', v)
  elseif t == 'table' then
    if depth > 40 then return '{...}' end
    local items = {}
    for k, x in pairs(v) do items[#items + 1] = ser(k, depth + 1) .. '=' .. ser(x, depth + 1) end
    table.sort(items)
    return '{' .. table.concat(items, ',') .. '}'
  else return tostring(v) == 'nil' and 'nil' or (t == 'boolean' and tostring(v) or t) end
end
local function collect(...) return select('#', ...), {...} end
local n, r = collect(pcall(case))
if not r[1] then return 'ERR(' .. esc(tostring(r[2])) .. ')' end
local out = {}
for i = 2, n do out[#out + 1] = ser(r[i], 0) end
return 'OK(' .. table.concat(out, ' ') .. ')'
