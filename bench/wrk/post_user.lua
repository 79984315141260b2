package.path = package.path .. ";" .. os.getenv("WRKDIR") .. "/?.lua"
local c = require("common")
local counter = 0
-- setup runs in the main Lua state and numbers the threads; thread:set
-- makes "tid" a global of each thread's own state.
local nthreads = 0
setup = function(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end
-- Each run's userNames are new: PREFIX (a script's process id, the same
-- for all its runs) and the time the run began, so that a second run
-- creates users instead of repeating the first run's (a repeated POST
-- updates the account it made, and would measure updates).
init = function(args) prefix = (os.getenv("PREFIX") or "p") .. "-" .. tostring(os.time()) end
request = function()
  counter = counter + 1
  local name = string.format("new-%s-%d-%d@example.com", prefix, tid, counter)
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","displayName":"New Hire","name":{"givenName":"New","familyName":"Hire"},' ..
    '"emails":[{"value":"' .. name .. '","type":"work","primary":true}],"active":true}'
  return wrk.format("POST", "/scim/v2/Users", c.headers({["Content-Type"] = "application/scim+json"}), body)
end
done = c.done
