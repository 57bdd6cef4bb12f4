-- macros.lua — date helpers for templates (Airflow's ds macros, done in pure Lua).
--
-- Dates are 'YYYY-MM-DD' strings in the proleptic Gregorian calendar, years
-- 0001..9999.  No os.time/os.date: the arithmetic is exact day counting
-- (days since 1970-01-01, after H. Hinnant's civil-date algorithms), so it is
-- correct across month ends, leap years and year ends in every time zone.
--
--   macros.ds_add('2021-02-28', 1)                  --> '2021-03-01'
--   macros.ds_format('20210501', '%Y%m%d', '%d/%m/%Y') --> '01/05/2021'
--   macros.ds_nodash('2021-05-01')                  --> '20210501'
--   macros.is_date('2021-02-29')                    --> false
local M = {}

local type, tostring, floor = type, tostring, math.floor
local mtype, tointeger = math.type, math.tointeger
local sfmt, sbyte, ssub, concat = string.format, string.byte, string.sub, table.concat

local MONTHS = { 'January', 'February', 'March', 'April', 'May', 'June', 'July',
                 'August', 'September', 'October', 'November', 'December' }
local DAYS = { 'Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday',
               'Saturday' }

local function is_leap(y)
  return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
end

local function days_in_month(y, m)
  if m == 2 then return is_leap(y) and 29 or 28 end
  if m == 4 or m == 6 or m == 9 or m == 11 then return 30 end
  return 31
end

-- days since 1970-01-01 of y-m-d (valid date assumed)
local function to_days(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = y // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function valid(y, m, d)
  return y >= 1 and y <= 9999 and m >= 1 and m <= 12 and d >= 1
     and d <= days_in_month(y, m)
end

-- 'YYYY-MM-DD' -> y, m, d or nil
local function parse_ds(s)
  if type(s) ~= 'string' then return nil end
  local y, m, d = s:match('^(%d%d%d%d)%-(%d%d)%-(%d%d)$')
  if not y then return nil end
  y, m, d = tointeger(y + 0), tointeger(m + 0), tointeger(d + 0)
  if not valid(y, m, d) then return nil end
  return y, m, d
end

local function show(v)
  if type(v) == 'string' then return "'" .. v .. "'" end
  return tostring(v) .. ' (' .. type(v) .. ')'
end

local function check_ds(fn, s)
  local y, m, d = parse_ds(s)
  if not y then
    error(sfmt('macros.%s: invalid date %s (want YYYY-MM-DD)', fn, show(s)), 3)
  end
  return y, m, d
end

local function ymd(y, m, d) return sfmt('%04d-%02d-%02d', y, m, d) end

function M.is_date(s)
  return parse_ds(s) ~= nil
end

function M.ds_add(ds, n)
  local y, m, d = check_ds('ds_add', ds)
  local k = n
  if type(k) == 'string' then k = tonumber(k) end
  k = (type(k) == 'number') and tointeger(k) or nil
  if not k then
    error(sfmt('macros.ds_add: invalid number of days %s', show(n)), 2)
  end
  local y2, m2, d2 = from_days(to_days(y, m, d) + k)
  if y2 < 1 or y2 > 9999 then
    error(sfmt("macros.ds_add: '%s' %+d days is out of range (years 0001-9999)", ds, k), 2)
  end
  return ymd(y2, m2, d2)
end

function M.ds_nodash(ds)
  local y, m, d = check_ds('ds_nodash', ds)
  return sfmt('%04d%02d%02d', y, m, d)
end

-- Reads `n` digits (at least `min`) from s at i; returns value, next index.
local function digits(s, i, min, max)
  local j = i
  while j < i + max and j <= #s do
    local c = sbyte(s, j)
    if c < 48 or c > 57 then break end
    j = j + 1
  end
  if j - i < min then return nil end
  return tointeger(ssub(s, i, j - 1) + 0), j
end

-- Parses s with a strptime-like format: %Y %m %d %j %y %% and literal text.
local function parse_fmt(s, fmt)
  local f = { }
  local i, k = 1, 1
  while k <= #fmt do
    local c = ssub(fmt, k, k)
    if c == '%' then
      local dir = ssub(fmt, k + 1, k + 1)
      local v
      if dir == 'Y' then v, i = digits(s, i, 4, 4)
      elseif dir == 'm' or dir == 'd' then v, i = digits(s, i, 1, 2)
      elseif dir == 'j' then v, i = digits(s, i, 1, 3)
      elseif dir == 'y' then v, i = digits(s, i, 2, 2)
      elseif dir == '%' then
        if ssub(s, i, i) ~= '%' then return nil, 'does not match' end
        i = i + 1; v = true
      else
        return nil, sfmt("unsupported directive '%%%s' in format '%s'", dir, fmt)
      end
      if not v then return nil, 'does not match' end
      if dir ~= '%' then
        if f[dir] ~= nil then
          return nil, sfmt("directive '%%%s' repeated in format '%s'", dir, fmt)
        end
        f[dir] = v
      end
      k = k + 2
    else
      if ssub(s, i, i) ~= c then return nil, 'does not match' end
      i = i + 1
      k = k + 1
    end
  end
  if i <= #s then return nil, 'does not match' end
  local y = f.Y
  if not y and f.y then y = f.y < 69 and 2000 + f.y or 1900 + f.y end
  if not y then return nil, sfmt("format '%s' has no year (%%Y or %%y)", fmt) end
  local m, d = f.m or 1, f.d or 1
  if f.j then
    local len = is_leap(y) and 366 or 365
    if f.j < 1 or f.j > len or y < 1 then return nil, 'is not a valid date' end
    local y2, m2, d2 = from_days(to_days(y, 1, 1) + f.j - 1)
    if (f.m and f.m ~= m2) or (f.d and f.d ~= d2) then
      return nil, 'is not a valid date (day of year disagrees with month/day)'
    end
    y, m, d = y2, m2, d2
  end
  if not valid(y, m, d) then return nil, 'is not a valid date' end
  return { y, m, d }
end

local function format_date(y, m, d, fmt)
  local out = {}
  local k = 1
  local z = to_days(y, m, d)
  while k <= #fmt do
    local c = ssub(fmt, k, k)
    if c == '%' then
      local dir = ssub(fmt, k + 1, k + 1)
      local v
      if dir == 'Y' then v = sfmt('%04d', y)
      elseif dir == 'm' then v = sfmt('%02d', m)
      elseif dir == 'd' then v = sfmt('%02d', d)
      elseif dir == 'y' then v = sfmt('%02d', y % 100)
      elseif dir == 'j' then v = sfmt('%03d', z - to_days(y, 1, 1) + 1)
      elseif dir == 'B' then v = MONTHS[m]
      elseif dir == 'b' then v = ssub(MONTHS[m], 1, 3)
      elseif dir == 'A' then v = DAYS[(z + 4) % 7 + 1]
      elseif dir == 'a' then v = ssub(DAYS[(z + 4) % 7 + 1], 1, 3)
      elseif dir == 'w' then v = tostring((z + 4) % 7)
      elseif dir == 'u' then v = tostring((z + 3) % 7 + 1)
      elseif dir == '%' then v = '%'
      else
        return nil, sfmt("unsupported directive '%%%s' in format '%s'", dir, fmt)
      end
      out[#out + 1] = v
      k = k + 2
    else
      out[#out + 1] = c
      k = k + 1
    end
  end
  return concat(out)
end

-- ds_format(ds, in_fmt, out_fmt): input directives %Y %m %d %j %y %%;
-- output adds %b %B %a %A (English names), %u (1-7, Monday 1), %w (0-6,
-- Sunday 0).  %y reads 69-99 as 19xx and 00-68 as 20xx (POSIX strptime).
function M.ds_format(ds, in_fmt, out_fmt)
  if type(ds) ~= 'string' then
    error(sfmt('macros.ds_format: invalid date %s', show(ds)), 2)
  end
  if type(in_fmt) ~= 'string' or type(out_fmt) ~= 'string' then
    error('macros.ds_format: formats must be strings', 2)
  end
  local t, why = parse_fmt(ds, in_fmt)
  if not t then
    if why == 'does not match' or why:sub(1, 2) == 'is' then
      why = sfmt("date '%s' %s format '%s'", ds, why == 'does not match'
                 and 'does not match' or why .. ' for', in_fmt)
    end
    error('macros.ds_format: ' .. why, 2)
  end
  local s, err = format_date(t[1], t[2], t[3], out_fmt)
  if not s then error('macros.ds_format: ' .. err, 2) end
  return s
end

-- exposed for tests and hooks: days since 1970-01-01 <-> 'YYYY-MM-DD'
function M.ds_to_days(ds)
  local y, m, d = check_ds('ds_to_days', ds)
  return to_days(y, m, d)
end

return M
