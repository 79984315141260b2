package.path = package.path .. ";" .. os.getenv("WRKDIR") .. "/?.lua"
local c = require("common")
local names
init = function(args) names = c.load(os.getenv("NAMES")); math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end
request = function()
  -- the seeded users' work email is their user name
  local f = 'emails[value eq "' .. names[math.random(#names)] .. '"]'
  return wrk.format("GET", "/scim/v2/Users?filter=" .. f:gsub('[^%w%-%._~]', function(ch) return string.format("%%%02X", string.byte(ch)) end), c.headers())
end
done = c.done
