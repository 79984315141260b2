package.path = package.path .. ";" .. os.getenv("WRKDIR") .. "/?.lua"
local c = require("common")
local ids
local n = 0
init = function(args) ids = c.load(os.getenv("IDS")); math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end
request = function()
  n = n + 1
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Renamed ' .. n .. '"}]}'
  return wrk.format("PATCH", "/scim/v2/Users/" .. ids[math.random(#ids)], c.headers({["Content-Type"] = "application/scim+json"}), body)
end
done = c.done
