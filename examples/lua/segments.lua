-- segments.lua — a user module for enrich.lua: customer segments by id
-- range (a stand-in for a lookup table kept with the pipeline).
local M = {}

local RANGES = {
  { 0, 12999, 'founding' },
  { 13000, 15999, 'regular' },
  { 16000, 18999, 'recent' },
}

function M.of(id)
  for i = 1, #RANGES do
    local r = RANGES[i]
    if id >= r[1] and id <= r[2] then return r[3] end
  end
  return 'other'
end

return M
