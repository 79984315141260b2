package.path = package.path .. ";" .. os.getenv("WRKDIR") .. "/?.lua"
local c = require("common")
request = function() return wrk.format("GET", "/", {["Accept"] = "application/json"}) end
done = c.done
