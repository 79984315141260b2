package.path = package.path .. ";" .. os.getenv("WRKDIR") .. "/?.lua"
local c = require("common")
-- GET by id with an OAuth access token (ACCESS_TOKEN) instead of a bearer
-- token.
local reqs
init = function(args)
  local ids = c.load(os.getenv("IDS"))
  local h = { ["Authorization"] = "Bearer " .. os.getenv("ACCESS_TOKEN"), ["Accept"] = "application/scim+json" }
  reqs = c.prebuild(ids, function(id) return wrk.format("GET", "/scim/v2/Users/" .. id, h) end)
end
request = function() return reqs[math.random(#reqs)] end
done = c.done
