package.path = package.path .. ";" .. os.getenv("WRKDIR") .. "/?.lua"
local c = require("common")
local ids
init = function(args) ids = c.load(os.getenv("IDS")); math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end
request = function()
  return wrk.format("GET", "/scim/v2/Users/" .. ids[math.random(#ids)], c.headers())
end
done = c.done
