-- classify.lua — the movie-review classifier as a lua.transform function.
-- Same output as the built-in classifier: cid, positive_review, insert_date
-- (the spec declares that header, so the row's review_str is not written).
-- The row is changed in place and returned: with `reuse_row: true` the
-- transform hands every call the same table, so no row allocates a table.
local is_positive = text.is_positive

return {
  transform = function(row, ctx)
    row.positive_review = is_positive(row.review_str)
    row.insert_date = ctx.ds
    return row
  end,
}
