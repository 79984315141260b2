-- Shared by the scenario scripts: reads the seeded ids or user names from
-- the file named in the environment (IDS), the token from TOKEN, and prints
-- a one-line JSON summary at the end.
local M = {}

function M.load(path)
  local list = {}
  for line in io.lines(path) do
    list[#list + 1] = line
  end
  return list
end

-- prebuild formats one request per item (in a random order of items).
function M.prebuild(items, fmt)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  local reqs = {}
  for i = 1, #items do
    reqs[i] = fmt(items[i])
  end
  return reqs
end

function M.urlencode(s)
  return (s:gsub('[^%w%-%._~]', function(ch) return string.format("%%%02X", string.byte(ch)) end))
end

function M.headers(extra)
  local h = { ["Authorization"] = "Bearer " .. os.getenv("TOKEN"), ["Accept"] = "application/scim+json" }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

function M.done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local non2xx = summary.errors.status or 0
  io.write(string.format(
    '{"requests":%d,"seconds":%.2f,"rps":%.0f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"errors":%d,"non2xx":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, non2xx))
end

return M
