-- text.lua — the review classifier's text rules (Spark ML Tokenizer + StopWordsRemover).
--
-- text.tokenize(s)          Spark's Tokenizer: s:lower():split("\\s") in Java terms.
--                           Lower-cases ASCII A-Z only (byte-wise, independent of
--                           the C locale; Java would also lower-case non-ASCII
--                           letters, which never changes whether 'good' is a token),
--                           splits at every single character of [ \t\n\v\f\r]
--                           (not NBSP, U+0085, U+2028...), keeps empty tokens at
--                           the start and in the middle, drops trailing empty
--                           tokens (Java String.split): "" -> {""}, "   " -> {}.
-- text.remove_stopwords(t)  a new array without Spark's default English stop
--                           words, compared case-insensitively; empty tokens stay.
-- text.is_positive(s)       'good' is one of the tokens left after the stop words
--                           (the built-in classifier's C fast path; is_positive_lua and
--                           is_positive_reference are the same in Lua, for tests);
--                           nil or "" -> false.
-- text.stopwords            the 181 words, in the order of Spark's list.
local _, host = ...
local M = {}

local type, sfmt, sfind, sgsub, ssub = type, string.format, string.find, string.gsub, string.sub

-- Source: apache/spark mllib/src/main/resources/org/apache/spark/ml/feature/stopwords/english.txt
-- @ b94af4a2cd6d1d8cd38c4258d2185d1144b1aee2 (Spark >= 2.2 list, after SPARK-18374 / PR #16103);
-- license: Apache License 2.0 (Apache Spark).  181 words; 'good' is not among them.
local STOPWORDS = {
  "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours",
  "yourself", "yourselves", "he", "him", "his", "himself", "she", "her", "hers",
  "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves",
  "what", "which", "who", "whom", "this", "that", "these", "those", "am", "is", "are",
  "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does",
  "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until",
  "while", "of", "at", "by", "for", "with", "about", "against", "between", "into",
  "through", "during", "before", "after", "above", "below", "to", "from", "up", "down",
  "in", "out", "on", "off", "over", "under", "again", "further", "then", "once",
  "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few",
  "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same",
  "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "should", "now",
  "i'll", "you'll", "he'll", "she'll", "we'll", "they'll", "i'd", "you'd", "he'd",
  "she'd", "we'd", "they'd", "i'm", "you're", "he's", "she's", "it's", "we're",
  "they're", "i've", "we've", "you've", "they've", "isn't", "aren't", "wasn't",
  "weren't", "haven't", "hasn't", "hadn't", "don't", "doesn't", "didn't", "won't",
  "wouldn't", "shan't", "shouldn't", "mustn't", "can't", "couldn't", "cannot", "could",
  "here's", "how's", "let's", "ought", "that's", "there's", "what's", "when's",
  "where's", "who's", "why's", "would",
}

local STOP = {}
for i = 1, #STOPWORDS do STOP[STOPWORDS[i]] = true end

local LOWER = {}
for c = 65, 90 do LOWER[string.char(c)] = string.char(c + 32) end

local function lower_ascii(s)
  return (sgsub(s, '[A-Z]', LOWER))
end

local function tokenize(s)
  s = lower_ascii(s)
  local out, n = {}, 0
  local i = 1
  local split = false
  while true do
    local j = sfind(s, '[ \t\n\v\f\r]', i)
    if not j then break end
    split = true
    n = n + 1
    out[n] = ssub(s, i, j - 1)
    i = j + 1
  end
  n = n + 1
  out[n] = ssub(s, i)
  if split then
    -- Java drops trailing empty strings (only when something was split)
    while n > 0 and out[n] == '' do
      out[n] = nil
      n = n - 1
    end
  end
  return out
end

function M.tokenize(s)
  if type(s) ~= 'string' then
    error(sfmt('text.tokenize: want a string, got a %s value', type(s)), 2)
  end
  return tokenize(s)
end

local function remove_stopwords(tokens)
  local out, n = {}, 0
  for i = 1, #tokens do
    local t = tokens[i]
    if not STOP[lower_ascii(t)] then
      n = n + 1
      out[n] = t
    end
  end
  return out
end

function M.remove_stopwords(tokens)
  if type(tokens) ~= 'table' then
    error(sfmt('text.remove_stopwords: want an array of tokens, got a %s value',
               type(tokens)), 2)
  end
  for i = 1, #tokens do
    if type(tokens[i]) ~= 'string' then
      error(sfmt('text.remove_stopwords: token %d is a %s, not a string', i,
                 type(tokens[i])), 2)
    end
  end
  return remove_stopwords(tokens)
end

-- 'good' is not a stop word, so it is among the kept tokens exactly when
-- it appears in the lower-cased text with a separator (or an end) on both
-- sides.  The host hands in the built-in classifier's C function for that
-- (one pass, no copy); the Lua version below says the same and is used when
-- the module runs without the host.
local slower, sbyte = string.lower, string.byte
local SEP = { [32] = true, [9] = true, [10] = true, [11] = true, [12] = true, [13] = true }

local function is_positive_lua(s)
  if s == nil or s == '' then return false end
  if type(s) ~= 'string' then
    error(sfmt('text.is_positive: want a string, got a %s value', type(s)), 2)
  end
  -- string.lower is C's tolower: in every locale it maps no byte to g, o,
  -- d or a separator that was not one already, so this equals lower_ascii
  local l = slower(s)
  local i = 1
  while true do
    local a = sfind(l, 'good', i, true)
    if not a then return false end
    local b = a + 4
    if (a == 1 or SEP[sbyte(l, a - 1)]) and (b > #l or SEP[sbyte(l, b)]) then
      return true
    end
    i = a + 1
  end
end

M.is_positive = host and host.is_positive or is_positive_lua
M.is_positive_lua = is_positive_lua

-- The definition itself, kept for tests: tokenize, drop stop words, look.
function M.is_positive_reference(s)
  if s == nil or s == '' then return false end
  local t = remove_stopwords(M.tokenize(s))
  for i = 1, #t do
    if t[i] == 'good' then return true end
  end
  return false
end

M.stopwords = {}
for i = 1, #STOPWORDS do M.stopwords[i] = STOPWORDS[i] end

return M
