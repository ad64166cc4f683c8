-- test_errors.lua: fdn.errors against @feathersjs/errors v5 semantics.
local t = require "lib.t"
local check = t.check
local errors = require "fdn.errors"

local CLASSES = {
  { "BadRequest", 400, "bad-request" },
  { "NotAuthenticated", 401, "not-authenticated" },
  { "PaymentError", 402, "payment-error" },
  { "Forbidden", 403, "forbidden" },
  { "NotFound", 404, "not-found" },
  { "MethodNotAllowed", 405, "method-not-allowed" },
  { "NotAcceptable", 406, "not-acceptable" },
  { "Timeout", 408, "timeout" },
  { "Conflict", 409, "conflict" },
  { "Gone", 410, "gone" },
  { "LengthRequired", 411, "length-required" },
  { "Unprocessable", 422, "unprocessable" },
  { "TooManyRequests", 429, "too-many-requests" },
  { "GeneralError", 500, "general-error" },
  { "NotImplemented", 501, "not-implemented" },
  { "BadGateway", 502, "bad-gateway" },
  { "Unavailable", 503, "unavailable" },
}

-- exactly Feathers' classes (the HTTP layer's own, such as 413 PayloadTooLarge, are not)
local nclasses = 0
for _ in pairs(errors.byCode) do nclasses = nclasses + 1 end
t.eq(nclasses, #CLASSES, "fdn.errors has Feathers' 17 classes, no more")
t.eq(errors[413], nil, "no class for the HTTP layer's 413")

-- every class: name, code, className, aliases
for _, c in ipairs(CLASSES) do
  local name, code, cn = c[1], c[2], c[3]
  local cls = errors[name]
  check(cls ~= nil, name .. " exists")
  local e = cls("boom")
  check(e.name == name and e.code == code and e.className == cn, name .. " fields")
  check(e.message == "boom", name .. " message")
  check(errors[code] == cls, name .. " numeric alias")
  check(errors.byCode[code] == cls, name .. " byCode")
  check(errors.is(e) and errors.is(e, cls) and errors.is(e, name) and errors.is(e, code),
    name .. " is")
  check(tostring(e) == name .. ": boom", name .. " tostring")
  check(e.data == nil and e.errors == nil, name .. " no data/errors")
end

-- one shared metatable
check(getmetatable(errors.NotFound("a")) == getmetatable(errors.BadRequest("b")), "shared metatable")
check(not errors.is(errors.NotFound("x"), errors.BadRequest), "is with another class")
check(not errors.is({ name = "NotFound", code = 404 }), "plain table is not an error")
check(not errors.is("NotFound") and not errors.is(nil), "non-tables are not errors")

-- default message
check(errors.NotFound().message == "Error", "nil message -> Error")
check(errors.NotFound(nil, { a = 1 }).message == "Error", "nil message with data -> Error")
check(errors.NotFound(42).message == "Error", "non-string message -> Error")

-- data and errors
do
  local e = errors.BadRequest("bad", { field = "x" })
  check(e.data.field == "x" and e.errors == nil, "data kept")
  e = errors.BadRequest("bad", { field = "x", errors = { email = "taken" } })
  check(e.errors and e.errors.email == "taken", "data.errors becomes err.errors")
  check(e.data.errors == nil and e.data.field == "x", "errors removed from data")
  e = errors.BadRequest("bad", { message = "from data" })
  check(e.message == "from data" and e.data.message == nil, "data.message overrides (Feathers)")
  local list = { "a", "b" }
  e = errors.BadRequest("bad", list)
  check(e.data == list and e.errors == nil, "a list as data is kept as is")
  e = errors.BadRequest("bad", {})
  check(type(e.data) == "table" and next(e.data) == nil, "empty data kept as empty object")
end

-- error-like table as first argument
do
  local e = errors.Conflict({ message = "dup", errors = { id = "exists" }, key = 7 })
  check(e.message == "dup", "table message")
  check(e.errors.id == "exists", "table errors")
  check(e.data.key == 7 and e.data.message == nil and e.data.errors == nil, "table rest -> data")
  e = errors.Conflict({ key = 1 })
  check(e.message == "Error" and e.data.key == 1, "table without message")
  local inner = errors.NotFound("inner msg", { x = 1, errors = { y = 2 } })
  e = errors.GeneralError(inner)
  check(e.name == "GeneralError" and e.code == 500, "error object as message: own class")
  check(e.message == "inner msg" and e.data.x == 1 and e.errors.y == 2,
    "error object as message: message/data/errors taken")
end

-- toJSON
do
  local j = errors.NotFound("nope"):toJSON()
  check(getmetatable(j) == nil, "toJSON is a plain table")
  check(j.name == "NotFound" and j.message == "nope" and j.code == 404 and j.className == "not-found",
    "toJSON fields")
  check(j.data == nil and j.errors == nil, "toJSON without data/errors")
  local n = 0
  for _ in pairs(j) do n = n + 1 end
  check(n == 4, "toJSON has exactly 4 keys")
  j = errors.BadRequest("x", { a = 1, errors = { b = 2 } }):toJSON()
  check(j.data.a == 1 and j.errors.b == 2, "toJSON with data/errors")
  local e = errors.from("boom", "stack traceback: ...")
  check(e:toJSON().stack == nil, "toJSON never carries the traceback")
end

-- error() / pcall
do
  local ok, e = pcall(function() error(errors.BadRequest("text is required")) end)
  check(not ok and errors.is(e, "BadRequest") and e.message == "text is required",
    "thrown and caught as the same table")
  ok, e = pcall(error, errors.Forbidden("no"))
  check(not ok and e.code == 403, "error(obj) keeps the object")
end

-- convert
do
  local e = errors.convert({ name = "NotFound", message = "gone away", code = 404,
    className = "not-found", data = { id = 3 } })
  check(errors.is(e, "NotFound") and e.message == "gone away" and e.data.id == 3, "convert by name")
  e = errors.convert({ className = "forbidden", message = "m" })
  check(errors.is(e, "Forbidden") and e.code == 403, "convert by className")
  e = errors.convert({ code = 409, message = "m" })
  check(errors.is(e, "Conflict"), "convert by code")
  e = errors.convert({ code = "503" })
  check(errors.is(e, "Unavailable") and e.message == "Error", "convert by code string, default message")
  e = errors.convert({ name = "WeirdError", code = 418, message = "teapot" })
  check(errors.is(e, "GeneralError") and e.code == 500 and e.message == "teapot",
    "unknown class -> GeneralError")
  e = errors.convert({ name = "BadRequest", message = "v", errors = { f = "required" },
    data = { errors = "kept in data" } })
  check(e.errors.f == "required" and e.data.errors == "kept in data", "convert keeps data and errors as given")
  e = errors.convert({ name = "NotFound", code = 999, className = "x", message = "m" })
  check(e.code == 404 and e.className == "not-found", "convert: the class gives code/className")
  local orig = errors.Timeout("t")
  check(errors.convert(orig) == orig, "convert passes errors through")
  check(errors.convert(nil) == nil, "convert(nil) -> nil")
  e = errors.convert("just text")
  check(errors.is(e, "GeneralError") and e.message == "just text", "convert(string)")
  local j = errors.Unprocessable("u", { a = { 1, 2 } }):toJSON()
  e = errors.convert(j)
  check(errors.is(e, 422) and e.data.a[2] == 2, "toJSON -> convert round trip")
end

-- from
do
  local orig = errors.NotAuthenticated("who?")
  check(errors.from(orig) == orig, "from passes errors through")
  local ok, msg = pcall(function() error("kaboom") end)
  check(not ok, "plain error thrown")
  local e = errors.from(msg, "tb")
  check(errors.is(e, "GeneralError") and e.code == 500, "from string -> GeneralError")
  check(msg:find(":%d+: kaboom$") and e.message == "kaboom",
    "from drops Lua's file:line prefix (it names the node's files)")
  check(e.stack == "tb", "from keeps the traceback")
  ok, msg = pcall(function() local _, m = pcall(function() error("inner") end); error(m) end)
  check(not ok and errors.from(msg).message == "inner", "from drops every prefix of a re-raise", msg)
  check(errors.from('[string "x = 1"]:3: bad'):toJSON().message == "bad", "a chunk loaded from a string")
  check(errors.from("/srv/app/s.lua:9: first\n\tno file '/usr/lib/x.lua'").message == "first",
    "from keeps the first line only")
  check(errors.from("plain: 12 words").message == "plain: 12 words", "a message without a position stays")
  check(errors.from(12).message == "12", "from(number)")
  check(errors.from({ message = "tbl msg" }).message == "tbl msg", "from plain table with message")
  check(errors.from(setmetatable({ message = "own" }, { __index = function() error("no") end })).message == "own",
    "from reads a table's own message field, running no metamethod")
  -- anything else: Feathers' generic message, never a heap address
  local withts = setmetatable({}, { __tostring = function() return "custom" end })
  for _, v in ipairs({ {}, withts, print, coroutine.create(print), true, false }) do
    local m = errors.from(v).message
    check(m == "Error", "from(" .. type(v) .. ") says Error", m)
  end
  check(errors.from(nil).message == "Error", "from(nil)")
  check(errors.from("").message == "Error", "from('')")
end

-- errors.new
do
  local e = errors.new(404, "m")
  check(errors.is(e, "NotFound") and e.message == "m", "new by code")
  e = errors.new("bad-request", "m", { a = 1 })
  check(errors.is(e, "BadRequest") and e.data.a == 1, "new by className")
  check(not pcall(errors.new, "Nope", "m"), "new with an unknown class raises")
end

return t.done()
