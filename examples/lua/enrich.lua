-- enrich.lua — enrich each movie review with what the warehouse would want
-- to know about it, without the review text:
--   cid          as read
--   customer_id  the cid as an integer when it is a customer id, else empty
--   words        tokens of the review (Spark's tokenizer), stop words kept
--   positive     text.is_positive
--   length       'short' / 'medium' / 'long' by bytes (bounds: ctx.params)
--   segment      the customer's segment from segments.lua (a module on the
--                spec's lua_path), or 'unknown'
-- Reviews without a customer id are dropped when ctx.params.keep_anonymous
-- is not 'true'.
local segments = require('segments')
local tokenize, is_positive = text.tokenize, text.is_positive

local short_max, long_min

return {
  transform = function(row, ctx)
    if not short_max then
      short_max = tonumber(ctx.params.short_max) or 200
      long_min = tonumber(ctx.params.long_min) or 1000
    end
    local cid = row.cid
    local id = cid:match('^%d+$') and tonumber(cid) or nil
    if not id and ctx.params.keep_anonymous ~= 'true' then
      return nil
    end
    local review = row.review_str
    local n = #review
    return {
      cid = cid,
      customer_id = id and string.format('%d', id) or '',
      words = review == '' and 0 or #tokenize(review),
      positive = is_positive(review),
      length = n <= short_max and 'short' or (n >= long_min and 'long' or 'medium'),
      segment = id and segments.of(id) or 'unknown',
    }
  end,
}
