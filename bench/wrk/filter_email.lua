package.path = package.path .. ";" .. os.getenv("WRKDIR") .. "/?.lua"
local c = require("common")
local reqs
init = function(args)
  local names = c.load(os.getenv("NAMES"))
  -- the seeded users' work email is their user name
  reqs = c.prebuild(names, function(n)
    return wrk.format("GET", "/scim/v2/Users?filter=" .. c.urlencode('emails[value eq "' .. n .. '"]'), c.headers())
  end)
end
request = function() return reqs[math.random(#reqs)] end
done = c.done
