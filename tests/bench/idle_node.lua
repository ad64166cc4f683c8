-- idle_node.lua: a node with one service and nothing to do, for the idle RSS figure of
-- tests/bench/run (VmRSS from /proc/PID/status once it has joined the cluster and settled).
return function(app)
  app:use("echo", {
    get = function(_, id)
      return { id = id, text = "hello" }
    end,
  })
end
