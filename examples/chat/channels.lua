-- channels.lua: the chat's real-time side, on the node that holds the browsers' sockets:
-- every connection joins "everybody", and the messages service's events go to everybody.
return function(app)
  app:on("connection", function(connection)
    app:channel("everybody"):join(connection)
  end)
  app:publish(function(_, ctx)
    if ctx.path == "messages" then return app:channel("everybody") end
  end)
end
