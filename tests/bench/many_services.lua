-- many_services.lua: a node serving SERVICES trivial services (s0001, s0002, ...), for the
-- service-table sweep of tests/bench/scale. get("meta") on any of them answers when this script
-- was loaded (fdn.now()) and the size of the service table this node publishes.
--   SERVICES=1000 fdnode tests/bench/many_services.lua --name many
local t_load = fdn.now()
local B = require "bench_common"

local N = B.env_int("SERVICES", 1000)

return function(app)
  B.watchdog("many_services")
  local function get(_, id)
    if id == "meta" then
      return { loaded_at = t_load, services = N, table_bytes = #app.__node.serve.table_body() }
    end
    return { id = id }
  end
  for i = 1, N do
    app:use(("s%04d"):format(i), { get = get })
  end
end
