return function(row) return row end
