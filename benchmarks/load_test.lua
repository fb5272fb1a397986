-- wrk script of benchmarks/load_test.sh: POSTs the body in $BODY_FILE (a view callback) and prints one line
-- for endpoint $ENDPOINT: requests/s, errors (socket errors, timeouts, HTTP >= 400), p50 / p95 / p99.
local file = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.method = "POST"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "application/json"
file:close()

done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format("%-28s %7.1f req/s %7d requests %5d errors   p50 %7.1f ms  p95 %7.1f ms  p99 %7.1f ms\n",
    os.getenv("ENDPOINT"), summary.requests / (summary.duration / 1e6), summary.requests, errors,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3))
end
