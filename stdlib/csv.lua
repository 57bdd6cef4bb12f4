-- csv.lua — writing CSV fields and rows the RFC 4180 way.
--
-- csv.encode_field(x)   string: quoted when it holds , " CR or LF, or is empty
--                       (so "" stays distinguishable from a missing value, as
--                       PostgreSQL COPY ... CSV reads it); " inside is doubled.
--                       nil -> empty (unquoted: NULL to COPY); integers as
--                       digits; floats as the shortest text that reads back
--                       (inf/nan are an error); booleans true/false.
-- csv.encode_row(t [, n])  fields t[1..n] (n defaults to t.n or #t) joined
--                       by ',' with no line terminator; the caller adds CRLF
--                       or LF.
local M = {}

local type, tostring, rawget, mtype = type, tostring, rawget, math.type
local sfmt, sfind, sgsub = string.format, string.find, string.gsub
local concat = table.concat

local function number_text(x)
  if mtype(x) == 'integer' then return sfmt('%d', x) end
  if x ~= x or x == math.huge or x == -math.huge then return nil end
  local s
  for p = 15, 17 do
    s = sfmt('%.' .. p .. 'g', x)
    if tonumber(s) == x then break end
  end
  return s
end

local function field(x, fn, lvl)
  local t = type(x)
  if t == 'nil' then return '' end
  if t == 'boolean' then return x and 'true' or 'false' end
  if t == 'number' then
    local s = number_text(x)
    if not s then error(sfmt('%s: cannot write %s in a CSV field', fn, tostring(x)), lvl) end
    return s
  end
  if t ~= 'string' then
    error(sfmt('%s: cannot write a %s value in a CSV field', fn, t), lvl)
  end
  if x == '' then return '""' end
  if sfind(x, '[,"\r\n]') then
    return '"' .. sgsub(x, '"', '""') .. '"'
  end
  return x
end

function M.encode_field(x)
  return field(x, 'csv.encode_field', 3)
end

function M.encode_row(t, n)
  if type(t) ~= 'table' then
    error(sfmt('csv.encode_row: want a table, got a %s value', type(t)), 2)
  end
  -- rawget: t may be a read-only scope proxy, where a missing field is an error
  n = n or rawget(t, 'n') or #t
  if mtype(n) ~= 'integer' or n < 0 then
    error(sfmt('csv.encode_row: bad field count %s', tostring(n)), 2)
  end
  local out = {}
  for i = 1, n do out[i] = field(t[i], 'csv.encode_row', 3) end
  return concat(out, ',')
end

return M
