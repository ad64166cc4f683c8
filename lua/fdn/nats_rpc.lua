-- nats_rpc.lua: the NATS transport's fdn.core.rpc (--nats): the same bodies, encoded in C
-- (rpc.encode_*), sent as frames on nats_link's links; frames that come in reach the handlers
-- set with rpc.handle through rpc.deliver (nats_link calls it).
local M = {}

local pairs = pairs

-- new(link, core_rpc): link is nats_link's fdn.core.link interface.
function M.new(link, core_rpc)
  local TY, send = link.TYPES, link.send
  local encode_request, encode_value, encode_event = core_rpc.encode_request, core_rpc.encode_value,
    core_rpc.encode_event
  return {
    handle = core_rpc.handle,
    LAYOUTS = core_rpc.LAYOUTS,
    request = function(lid, rid, ...)
      local body, err, detail = encode_request(...)
      if not body then return nil, err, detail end
      return send(lid, TY.REQ, 0, rid, body)
    end,
    reply = function(lid, ftype, rid, value)
      local body, err, detail = encode_value(value)
      if not body then return nil, err, detail end
      return send(lid, ftype, 0, rid, body)
    end,
    -- one body for every link of set; the links that are gone (or were just dropped as slow
    -- consumers) leave the set, as rpc.publish's
    publish = function(set, path, event, data, meta)
      local body, err, detail = encode_event(path, event, data, meta)
      if not body then return nil, err, detail end
      local sent = 0
      for lid in pairs(set) do
        local ok, why = send(lid, TY.EVT, 0, 0, body)
        if ok then
          sent = sent + 1
        elseif why == "too large" then
          return nil, why, #body
        else
          set[lid] = nil
        end
      end
      return sent
    end,
  }
end

return M
