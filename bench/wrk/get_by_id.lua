package.path = package.path .. ";" .. os.getenv("WRKDIR") .. "/?.lua"
local c = require("common")
-- Requests are formatted once, in init, so that the load generator spends
-- its CPU sending them, not building them.
local reqs
init = function(args)
  local ids = c.load(os.getenv("IDS"))
  reqs = c.prebuild(ids, function(id) return wrk.format("GET", "/scim/v2/Users/" .. id, c.headers()) end)
end
request = function() return reqs[math.random(#reqs)] end
done = c.done
