package.path = package.path .. ";" .. os.getenv("WRKDIR") .. "/?.lua"
local c = require("common")
-- The client-credentials grant, RFC 6749 form: BASIC holds the
-- Authorization header value.
local req
init = function(args)
  req = wrk.format("POST", "/oauth2/token", {
    ["Authorization"] = os.getenv("BASIC"),
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "grant_type=client_credentials")
end
request = function() return req end
done = c.done
