-- channels.lua: the chat's real-time side, on the node that holds the browsers' sockets: a new
-- connection joins "anonymous", a login moves it to "authenticated", and the messages
-- service's events go to "authenticated" only (a logout leaves every channel).
return function(app)
  app:on("connection", function(connection)
    app:channel("anonymous"):join(connection)
  end)
  app:on("login", function(_, params)
    local connection = params and params.connection
    if connection then
      app:channel("anonymous"):leave(connection)
      app:channel("authenticated"):join(connection)
    end
  end)
  app:publish(function(_, ctx)
    if ctx.path == "messages" then return app:channel("authenticated") end
  end)
end
