-- Quarto's five callouts for plain pandoc: a titled, coloured box in HTML and Typst, a titled
-- paragraph group in Word. A leading heading inside the callout becomes its title.
local kinds = {
  note = {"Note", "#0b5cad", "#eaf2fb"},
  tip = {"Tip", "#1b7f3b", "#eaf6ee"},
  warning = {"Warning", "#9a6700", "#fdf6e3"},
  caution = {"Caution", "#b3471d", "#fcefe8"},
  important = {"Important", "#b42318", "#fdecea"},
}

local function split_title(el, default)
  local content = el.content
  if #content > 0 and content[1].t == "Header" then
    local title = content[1].content
    content:remove(1)
    return title, content
  end
  if el.attributes["title"] then
    return pandoc.Inlines(el.attributes["title"]), content
  end
  return pandoc.Inlines(default), content
end

function Div(el)
  for kind, style in pairs(kinds) do
    if el.classes:includes("callout-" .. kind) then
      local title, content = split_title(el, style[1])
      if FORMAT:match("typst") then
        -- callout-box (typst-header.typ): kept on one page unless taller than a page
        local open = string.format('#callout-box(fill: rgb("%s"), accent: rgb("%s"))[',
          style[3], style[2])
        local blocks = {pandoc.RawBlock("typst", open),
          pandoc.RawBlock("typst", string.format('#text(fill: rgb("%s"), weight: "bold")[', style[2])),
          pandoc.Plain(title), pandoc.RawBlock("typst", "]")}
        for _, block in ipairs(content) do table.insert(blocks, block) end
        table.insert(blocks, pandoc.RawBlock("typst", "]"))
        return blocks
      elseif FORMAT:match("html") then
        local head = pandoc.Div({pandoc.Plain(title)}, {class = "callout-title"})
        local body = pandoc.Div(content, {class = "callout-body"})
        return pandoc.Div({head, body}, {class = "callout callout-" .. kind})
      else
        local blocks = {pandoc.Para({pandoc.Strong(title)})}
        for _, block in ipairs(content) do table.insert(blocks, block) end
        return pandoc.Div(blocks, {["custom-style"] = "Callout"})
      end
    end
  end
end
