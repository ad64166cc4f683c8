-- luacheck configuration: Lua 5.4, fdnode's one global, hooks and handlers
-- keep Feathers' argument lists even where they do not use every argument.
std = "lua54"
globals = { "fdn" }
unused_args = false
max_line_length = 120
