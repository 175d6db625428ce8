-- User text must reach the PDF as text. Pandoc's Typst writer escapes Typst's markup characters
-- (* _ # $ @ < > ` ~ \ ' " [ ] // --) everywhere, but the line-start markers (= heading, - and +
-- lists, / term list, "1." enumeration) only where a line breaks. Typst also reads them at the
-- start of every content block, and pandoc writes table cells, captions, emphasis, link text and
-- the title as `[...]`: a cell "= x" became a heading (even in the table of contents), "- x" a
-- list. And three shorthands pass unescaped anywhere: "..." (an ellipsis), "-?" (a soft hyphen)
-- and "-" before a digit (a minus sign). This filter, run for the Typst writer only, replaces
-- each such character with a Typst escape (`\=`); pandoc then no longer sees it, so nothing is
-- escaped twice.

local LINE_START = {["="] = true, ["-"] = true, ["+"] = true, ["/"] = true}

local function escaped(char)
  return pandoc.RawInline("typst", "\\" .. char)
end

-- The Typst source for `text` as inlines: Str pieces pandoc escapes as usual, with escapes where
-- Typst would read markup pandoc leaves alone. `at_start`: the text opens a content block or
-- a line.
local function pieces(text, at_start)
  local out = pandoc.Inlines{}
  local plain = {}
  local function flush()
    if #plain > 0 then
      out:insert(pandoc.Str(table.concat(plain)))
      plain = {}
    end
  end
  local chars = {}
  for _, code in utf8.codes(text) do
    table.insert(chars, utf8.char(code))
  end
  for i, char in ipairs(chars) do
    local nxt, after = chars[i + 1], chars[i + 2]
    local escape = false
    if i == 1 and at_start then
      -- "1." enumerates unless more digits follow ("1.5" is a number, left alone).
      local digits = text:match("^%d+%.(.?)")
      escape = LINE_START[char] or (digits ~= nil and not digits:match("%d"))
    end
    if char == "." and nxt == "." and after == "." then
      escape = true -- "..." is Typst's shorthand for an ellipsis
    elseif char == "-" and nxt ~= nil then
      -- "-?" is a soft hyphen; "-" before a digit (any script: Typst asks char::is_numeric,
      -- so any non-ASCII character counts here) is a minus sign.
      escape = escape or nxt == "?" or nxt:match("^%d$") ~= nil or #nxt > 1
    end
    if escape then
      flush()
      out:insert(escaped(char))
    else
      table.insert(plain, char)
    end
  end
  flush()
  return out
end

local function needs_work(text, at_start)
  if at_start and (LINE_START[text:sub(1, 1)] or text:match("^%d+%.")) then
    return true
  end
  return text:find("...", 1, true) or text:find("-[%d?\128-\255]")
end

local BREAKS = {SoftBreak = true, LineBreak = true}

-- Called for every list of inlines (paragraphs, cells, captions, emphasis, link text, headings
-- and, because pandoc walks the metadata too, the title, subtitle and author).
local function Inlines(inlines)
  local out = pandoc.Inlines{}
  local at_start = true
  local changed = false
  for _, inline in ipairs(inlines) do
    if inline.t == "Str" and needs_work(inline.text, at_start) then
      out:extend(pieces(inline.text, at_start))
      changed = true
    else
      out:insert(inline)
    end
    at_start = BREAKS[inline.t] == true
  end
  if changed then
    return out
  end
end

if FORMAT:match("typst") then
  return {{Inlines = Inlines}}
end
return {}
