-- test_qs.lua: the fdn.core.qs binding (query strings, REST routes and methods) as the
-- gateway calls it; core/qs.c's own cases are in tests/unit/test_qs.c.
local t = require "lib.t"
local qs = require "fdn.core.qs"
local json = require "fdn.json"

local q = assert(qs.parse("id[$in][]=1&id[$in][]=2&name=x"))
t.eq(q, { id = { ["$in"] = t.list { "1", "2" } }, name = "x" }, "parse: arrays carry fdn.json.array_mt")
t.check(getmetatable(q.id["$in"]) == json.array_mt, "the array metatable is fdn.json's")
t.eq({ qs.parse("a=123456", 4) }, { nil, "query string too long" }, "a length limit")
t.eq(qs.parse(string.rep("a", 70000)), nil, "the default length limit (64 KiB)")
t.eq(next(qs.parse(string.rep("&", 999), 0)), nil, "999 empty parts: an empty table")
t.eq(select(2, qs.parse(string.rep("&", 1000))), "too many parameters", "1000 parts are too many")
t.check(not pcall(qs.parse, {}), "a table is misuse: it raises")

local full, parent, last = qs.route("GET", "/api/users/7")
t.eq({ full, parent, last }, { "api/users/7", "api/users", "7" }, "route: the path, its parent and last segment")
full, parent, last = qs.route("GET", "/users")
t.eq({ full, parent, last }, { "users" }, "route: one segment has no parent")
t.eq(qs.route("GET", "/"), "", "route: the root")
t.eq({ qs.route("GET", "/a/../b") }, { nil, "malformed path" }, "route: dot segments are refused")

t.eq({ qs.method("GET", false), qs.method("GET", true) }, { "find", "get" }, "GET: find / get")
t.eq({ qs.method("HEAD", false), qs.method("HEAD", true) }, { "find", "get" }, "HEAD: as GET")
t.eq(qs.method("POST", false, "resetPassword"), "resetPassword", "POST with X-Service-Method: the custom method")
t.eq(qs.method("POST", false, ""), "create", "an empty X-Service-Method is none")
t.eq(qs.method("POST", true), "create", "POST /p/ID is create (the id is not create's)")
t.eq(qs.method("POST", true, "x"), nil, "a custom method takes no id")
t.eq({ qs.method("PUT", false), qs.method("DELETE", true) }, { "update", "remove" }, "PUT, DELETE")
t.eq({ qs.method("OPTIONS", false) }, { nil, "not allowed" }, "another method is not allowed")

local s = qs.parse("$sort[b]=1&$sort[a]=-1")["$sort"]
t.eq(getmetatable(s).__order, { "b", "a" }, "$sort keeps its keys' order (__order)")

return t.done()
