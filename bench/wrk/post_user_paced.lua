-- post_user.lua at a steady pace: each connection sends one POST every
-- 1000 / RATE ms (wrk's delay()), so that with one connection a run writes
-- about RATE new users a second. bench/compare.sh runs it beside a read
-- scenario when WRITES is set (a read load with a stream of writes).
dofile(os.getenv("WRKDIR") .. "/post_user.lua")
local interval = 1000 / tonumber(os.getenv("RATE") or "50")
delay = function() return interval end
