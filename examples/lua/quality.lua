-- quality.lua — data-quality rules for the vendor's daily review counts, and
-- a transform that uses what the check published.
--
-- quality.review_counts(task) is an on_success hook: it reads the object the
-- task wrote, row by row, and raises an error naming the rule, the object
-- and the row at the first row that breaks one, which fails the task (no
-- retry) and so the run.  When every rule holds it publishes `customers`
-- and `reviews` for the templates of downstream tasks.
local M = {}

local tonumber, sfmt, mfloor = tonumber, string.format, math.floor

local function count(s)
  local n = tonumber(s)
  if n and n == mfloor(n) then return n end
  return nil
end

function M.review_counts(task)
  local ref = 'raw:review_counts/' .. task.ds .. '/review_counts.csv'
  local min_customers = tonumber(task.params.min_customers) or 1
  local seen, customers, reviews, line = {}, 0, 0, 1
  local function broken(rule, fmt, ...)
    error(sfmt("rule '%s' broken: '%s' line %d: " .. fmt, rule, ref, line, ...), 0)
  end
  for row in task.rows(ref) do
    line = line + 1
    local cid, n, score = row.cid, count(row.review_count), count(row.review_score)
    if not cid:match('^%d+$') then broken('customer_id', "cid '%s' is not a customer id", cid) end
    if seen[cid] then
      broken('unique_customer', 'customer %s is counted again (first on line %d)', cid, seen[cid])
    end
    seen[cid] = line
    if not n then broken('review_count_integer', "review_count '%s' is not an integer", row.review_count) end
    if n < 0 then broken('no_negative_review_count', 'customer %s has review_count %d', cid, n) end
    if not score or score < 0 or score > n then
      broken('score_within_count', "customer %s has review_score '%s' for %d reviews", cid, row.review_score, n)
    end
    customers, reviews = customers + 1, reviews + n
  end
  if customers < min_customers then
    error(sfmt("rule 'min_customers' broken: '%s' has %d customers, want at least %d", ref, customers,
               min_customers), 0)
  end
  log.info('%s: %d customers, %d reviews: every rule holds', ref, customers, reviews)
  task.publish('customers', customers)
  return { reviews = reviews }
end

-- review_share(row, ctx): each customer's share of the day's reviews, from
-- the total the check published (ctx.params.reviews).
function M.review_share(row, ctx)
  local total = tonumber(ctx.params.reviews)
  local n = tonumber(row.review_count)
  return {
    cid = row.cid,
    review_count = n,
    review_share = total > 0 and sfmt('%.6f', n / total) or '0',
  }
end

return M
