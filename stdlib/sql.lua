-- sql.lua — quoting values and names into SQL text (the only way -p values reach SQL).
--
-- sql.literal(x)   a literal that reads back as exactly x on PostgreSQL whatever
--                  standard_conforming_strings says, and on Redshift:
--                    string  -> 'text' with ' doubled; when text holds a backslash,
--                               E'text' with ' and \ doubled (an escape string reads
--                               the same under both settings; a plain one would not).
--                               NUL bytes and invalid UTF-8 are an error: no
--                               PostgreSQL text value can hold them.
--                    integer -> 42, negative numbers in parentheses: (-42), so
--                               that "x-{{ sql.literal(n) }}" can never make "--"
--                    float   -> shortest text that reads back to the same
--                               number (1.5, 1e+20); inf/nan are an error
--                    boolean -> TRUE / FALSE,  nil -> NULL
-- sql.ident(x)     a quoted identifier, " doubled.  A string is split at dots,
--                  each part quoted: 'spectrum.user_purchase_staging' ->
--                  "spectrum"."user_purchase_staging".  To name something that
--                  contains a dot pass the parts as an array:
--                  sql.ident{'s', 'a.b'} -> "s"."a.b".  Empty names or parts and
--                  NUL bytes, invalid UTF-8 and a part longer than 63 bytes (what
--                  PostgreSQL keeps of a name) are an error.  Quoting keeps the
--                  case as written; a backslash is ordinary in a quoted name.
-- sql.list(t)      '(' .. literals of t[1..#t] joined by ', ' .. ')' for IN
--                  lists; an empty list is an error (SQL has no empty IN list).
local M = {}

local type, tostring, tointeger, mtype = type, tostring, math.tointeger, math.type
local sfmt, sfind, sgsub, ssub = string.format, string.find, string.gsub, string.sub
local concat = table.concat
local ulen = utf8.len

local function number_text(x)
  if mtype(x) == 'integer' then return sfmt('%d', x) end
  if x ~= x or x == math.huge or x == -math.huge then return nil end
  local s
  for p = 15, 17 do
    s = sfmt('%.' .. p .. 'g', x)
    if tonumber(s) == x then break end
  end
  if not sfind(s, '[%.eEn]') then s = s .. '.0' end
  return s
end

local function literal(x, fn)
  local t = type(x)
  if t == 'nil' then return 'NULL' end
  if t == 'boolean' then return x and 'TRUE' or 'FALSE' end
  if t == 'number' then
    local s = number_text(x)
    if not s then error(sfmt('%s: cannot write %s as a SQL number', fn, tostring(x)), 3) end
    if ssub(s, 1, 1) == '-' then s = '(' .. s .. ')' end
    return s
  end
  if t == 'string' then
    if sfind(x, '\0', 1, true) then
      error(sfmt('%s: string contains a NUL byte', fn), 3)
    end
    local n, at = ulen(x)
    if not n then
      error(sfmt('%s: string is not valid UTF-8 (byte %d)', fn, at), 3)
    end
    if sfind(x, '\\', 1, true) then
      return "E'" .. sgsub(sgsub(x, '\\', '\\\\'), "'", "''") .. "'"
    end
    return "'" .. sgsub(x, "'", "''") .. "'"
  end
  error(sfmt('%s: cannot quote a %s value', fn, t), 3)
end

function M.literal(x)
  return literal(x, 'sql.literal')
end

-- PostgreSQL keeps NAMEDATALEN - 1 bytes of a name and cuts the rest with a notice only,
-- so two names that differ after them would be one: longer is an error (Redshift keeps
-- 127, but a template does not know where its SQL runs; the shorter limit holds for both)
local MAX_NAME = 63

local function quote_part(p)
  if p == '' then return nil, 'empty name' end
  if #p > MAX_NAME then
    return nil, sfmt('a part of %d bytes (PostgreSQL keeps %d bytes of a name and cuts the rest, '
                     .. 'so two names that differ after byte %d would be one)', #p, MAX_NAME, MAX_NAME)
  end
  if sfind(p, '\0', 1, true) then return nil, 'name contains a NUL byte' end
  if not ulen(p) then return nil, 'name is not valid UTF-8' end
  return '"' .. sgsub(p, '"', '""') .. '"'
end

function M.ident(x)
  local parts = {}
  if type(x) == 'string' then
    if x == '' then error('sql.ident: empty name', 2) end
    local i = 1
    while true do
      local j = sfind(x, '.', i, true)
      parts[#parts + 1] = ssub(x, i, (j or 0) - 1)
      if not j then break end
      i = j + 1
    end
  elseif type(x) == 'table' then
    local n = #x
    if n == 0 then error('sql.ident: empty name', 2) end
    for i = 1, n do
      if type(x[i]) ~= 'string' then
        error(sfmt('sql.ident: part %d is a %s, not a string', i, type(x[i])), 2)
      end
      parts[i] = x[i]
    end
  else
    error(sfmt('sql.ident: cannot quote a %s value as a name', type(x)), 2)
  end
  local shown = type(x) == 'string' and x or concat(parts, '.')   -- before any part is quoted
  for i = 1, #parts do
    local q, why = quote_part(parts[i])
    if not q then
      error(sfmt("sql.ident: %s in '%s'", why, shown), 2)
    end
    parts[i] = q
  end
  return concat(parts, '.')
end

function M.list(t)
  if type(t) ~= 'table' then
    error(sfmt('sql.list: want a table, got a %s value', type(t)), 2)
  end
  local n = #t
  if n == 0 then error('sql.list: empty list', 2) end
  local out = {}
  for i = 1, n do out[i] = literal(t[i], 'sql.list') end
  return '(' .. concat(out, ', ') .. ')'
end

return M
