-- wrk script: POST /v1/jobs with a backend key from the BENCH_KEY environment variable.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/jobs", nil,
    '{"queue":"bench.api","kind":"bench.noop","payload":{"n":' .. n .. '}}')
end
