-- Typst only: a table's note (the key of names shortened in its cells: a `table-note` div right
-- after the table) is handed to the table's figure, which sets it under the rows and keeps it on
-- the table's page (typst-header.typ). As a paragraph of its own it could be parted from its
-- table: a figure floated between them, and the note read as one of the figure's.
local function is_note(block)
  return block ~= nil and block.t == "Div" and block.classes:includes("table-note")
end

function Blocks(blocks)
  local out = pandoc.Blocks{}
  local i = 1
  while i <= #blocks do
    local block, after = blocks[i], blocks[i + 1]
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
