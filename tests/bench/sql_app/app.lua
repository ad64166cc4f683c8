-- app.lua: the fdnode side of tests/bench/sql, the workload of sql_peer/server.mjs: `people` and
-- `bulk`, two sql.service on the database the driver made (setting "db": SQL_BENCH_URL).
local sql = require "fdn.sql"

return function(app)
  local url = app:get("db")
  assert(type(url) == "string" and url ~= "", "sql bench: set SQL_BENCH_URL (sqlite:PATH or postgresql://...)")
  local db = sql.connect(url)
  local paginate = { default = 10, max = 50 }
  app:use("people", sql.service { db = db, table = "people", paginate = paginate, multi = true })
  app:use("bulk", sql.service { db = db, table = "bulk", paginate = paginate, multi = true })
end
