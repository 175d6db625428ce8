-- Typst only: a table's note (the key of names shortened in its cells: a `table-note` div right
-- after the table) is handed to the table's figure, which sets it under the rows and keeps it on
-- the table's page (typst-header.typ). As a paragraph of its own it could be parted from its
-- table: a figure floated between them, and the note read as one of the figure's.
-- Each table also gets an anchor (an empty block) where it would start: before its heading when a
-- heading leads it (the heading moves with its table). The anchor stays where it is when the
-- table moves on to the next page, so the room the page had left is known (typst-header.typ).
local function is_note(block)
  return block ~= nil and block.t == "Div" and block.classes:includes("table-note")
end

local function anchor(led_by_heading)
  return pandoc.RawBlock("typst", string.format(
    "#block(height: 0pt, below: 0pt)[#metadata(%s)<table-anchor>]",
    led_by_heading and "\"heading\"" or "none"))
end

function Blocks(blocks)
  local out = pandoc.Blocks{}
  local i = 1
  while i <= #blocks do
    local block, after = blocks[i], blocks[i + 1]
    if block.t == "Table" then
      local last = out[#out]
      if last ~= nil and last.t == "Header" then
        out:insert(#out, anchor(true))
      else
        out:insert(anchor(false))
      end
    end
    if block.t == "Table" and is_note(after) then
      out:insert(pandoc.RawBlock("typst", "#table-note.update["))
      out:extend(after.content)
      out:insert(pandoc.RawBlock("typst", "]"))
      out:insert(block)
      out:insert(pandoc.RawBlock("typst", "#table-note.update(none)"))
      i = i + 2
    else
      out:insert(block)
      i = i + 1
    end
  end
  return out
end
