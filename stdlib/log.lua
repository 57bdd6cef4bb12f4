-- log.lua — log lines from templates and hooks, written by the host.
--
-- log.debug/info/warn/error(fmt, ...) format with string.format when extra
-- arguments are given (otherwise fmt is written as is) and hand the line to
-- the host's writer (the C side decides where it goes; today: stderr with a
-- "ubpipe: lua <level>:" prefix).  Each returns nothing.
local name, host = ...
local M = {}

local type, select, tostring, pcall, sfmt = type, select, tostring, pcall, string.format
local write = host and host.log

local function emit(level, fmt, ...)
  local msg
  if select('#', ...) == 0 then
    msg = tostring(fmt)
  else
    if type(fmt) ~= 'string' then
      error(sfmt('log.%s: format must be a string, got a %s value', level, type(fmt)), 3)
    end
    local ok, res = pcall(sfmt, fmt, ...)
    if not ok then error(sfmt('log.%s: %s', level, tostring(res)), 3) end
    msg = res
  end
  if write then write(level, msg) end
end

function M.debug(fmt, ...) emit('debug', fmt, ...) end
function M.info(fmt, ...) emit('info', fmt, ...) end
function M.warn(fmt, ...) emit('warn', fmt, ...) end
function M.error(fmt, ...) emit('error', fmt, ...) end

return M
