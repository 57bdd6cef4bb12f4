-- corpus.sql — hostile strings through sql.literal and sql.ident (tests/e2e/test_sql_quoting.sh).
-- Each value is stored as data (corpus.v) and as a table name (in schema corp), with its bytes in
-- hex computed without any quoting; the test then compares bytes.  A value that escaped its quotes
-- would break the statement or drop public.victim.
{{ (function()
  local bs, q, nl = string.char(92), string.char(39), string.char(10)
  local corpus = {
    q, q .. q, bs, bs .. q, bs .. bs .. q, bs .. bs .. bs, 'abc' .. bs,
    q .. '); DROP TABLE public.victim; --',
    bs .. q .. '); DROP TABLE public.victim; --',
    bs .. q .. q .. '); DROP TABLE public.victim; --',
    '$$', '$$; DROP TABLE public.victim; $$', '$tag$ x $tag$', '$1',
    '-- comment', '/* open', '*/', 'a' .. nl .. 'b', 'a' .. string.char(13, 10) .. 'b', 'tab' .. string.char(9) .. 'x',
    'E' .. q .. 'x' .. q, 'U&' .. q .. bs .. '0041' .. q, bs .. 'x41', bs .. 'u0041', bs .. '000', bs .. 'n',
    '"', '""', bs .. '"', '";DROP TABLE public.victim;--', ';', '%s%n', '{{ x }}', 'caf' .. string.char(195, 169) .. ' ' .. string.char(240, 159, 152, 128),
    'x' .. q .. ' OR ' .. q .. '1' .. q .. '=' .. q .. '1',
  }
  local function hex(s) return (s:gsub('.', function(ch) return string.format('%02x', ch:byte()) end)) end
  local out = { 'DROP SCHEMA IF EXISTS corp CASCADE', 'CREATE SCHEMA corp',
                'DROP TABLE IF EXISTS public.corpus', 'CREATE TABLE public.corpus (i int, v text, h text)' }
  for i, v in ipairs(corpus) do
    out[#out + 1] = 'INSERT INTO public.corpus VALUES (' .. i .. ', ' .. sql.literal(v) .. ', ' .. sql.literal(hex(v)) .. ')'
    out[#out + 1] = 'CREATE TABLE ' .. sql.ident{ 'corp', v } .. ' (i int)'
  end
  return table.concat(out, ';' .. nl) .. ';'
end)() }}
