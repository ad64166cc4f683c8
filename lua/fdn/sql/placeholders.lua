-- sql/placeholders.lua (require "fdn.sql.placeholders"): fdn.sql.postgres's rewriting of `?`
-- placeholders into PostgreSQL's $1..$n. Pure: SQL text in, SQL text and the count out.
local byte, sub, find, concat = string.byte, string.sub, string.find, table.concat

-- `?` -> $1..$n outside '...' (and E'...'), "...", -- and /* */ comments (nested) and $tag$
-- quotes; `??` is a literal `?` (PostgreSQL's jsonb operators). Returns the SQL and n.
local function rewrite(sql)
  local out, n, i, from, len = {}, 0, 1, 1, #sql
  while i <= len do
    local s = find(sql, "[?'\"%-/$]", i)
    if not s then break end
    local c = byte(sql, s)
    i = s + 1
    if c == 63 then -- ?
      out[#out + 1] = sub(sql, from, s - 1)
      if byte(sql, s + 1) == 63 then
        out[#out + 1] = "?"
        i = s + 2
      else
        n = n + 1
        out[#out + 1] = "$" .. n
      end
      from = i
    elseif c == 39 then -- '...' with '' (and \' after E)
      local prev = s > 1 and byte(sql, s - 1)
      local escapes = (prev == 69 or prev == 101) and (s == 2 or not find(sub(sql, s - 2, s - 2), "[%w_$]"))
      while true do
        local e = find(sql, escapes and "['\\]" or "'", i)
        if not e then i = len + 1 break end
        if byte(sql, e) == 92 then i = e + 2
        elseif byte(sql, e + 1) == 39 then i = e + 2
        else i = e + 1 break end
      end
    elseif c == 34 then -- "..." with ""
      while true do
        local e = find(sql, '"', i, true)
        if not e then i = len + 1 break end
        i = e + 1
        if byte(sql, i) ~= 34 then break end
        i = i + 1
      end
    elseif c == 45 then -- -- to the end of the line
      if byte(sql, i) == 45 then i = (find(sql, "\n", i, true) or len) + 1 end
    elseif c == 47 then -- /* ... */, nested
      if byte(sql, i) == 42 then
        local depth = 1
        i = i + 1
        while depth > 0 do
          local e = find(sql, "[/*]", i)
          if not e then i = len + 1 break end
          local two = sub(sql, e, e + 1)
          if two == "/*" then depth, i = depth + 1, e + 2
          elseif two == "*/" then depth, i = depth - 1, e + 2
          else i = e + 1 end
        end
      end
    else -- $: a dollar quote $tag$...$tag$ (not $1, not inside a name)
      local tag = sql:match("^%$[%a_\128-\255]?[%w_\128-\255]*%$", s)
      if tag and not (s > 1 and find(sub(sql, s - 1, s - 1), "[%w_\128-\255$]")) then
        local e = find(sql, tag, s + #tag, true)
        i = e and e + #tag or len + 1
      end
    end
  end
  if n == 0 and from == 1 then return sql, 0 end
  out[#out + 1] = sub(sql, from)
  return concat(out), n
end

return rewrite
