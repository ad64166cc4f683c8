-- gateway_echo.lua: the fdnode side of tests/bench/gateway, the workload of the Feathers peer:
-- `echo` with get(id) -> {id, text="hello"} and create(data) -> data, whose `created` events
-- are published to every connection (a channel that each joins when it connects).
return function(app)
  app:use("echo", {
    get = function(_, id)
      return { id = tonumber(id) or id, text = "hello" }
    end,
    create = function(_, data)
      return data
    end,
  })
  app:on("connection", function(conn)
    app:channel("everybody"):join(conn)
  end)
  app:publish(function()
    return app:channel("everybody")
  end)
end
