-- HTML only: each table inside a scrolling box, so a wide table scrolls sideways on a narrow
-- screen while staying a real table (display: table; screen readers keep rows and columns).
function Table(tbl)
  return pandoc.Div({tbl}, pandoc.Attr("", {"table-scroll"}))
end
