-- wrk script: PagerDuty Events v2 (POST /v2/enqueue) with a realistic mix, as tests/perf/workload.py.
-- ~80% triggers with a new dedup_key (a new alert and incident each), 12% repeats of an open key,
-- 6% resolves, 2% acknowledges. A key is reused only KEY_DELAY requests after its trigger was sent.
-- Environment: BENCH_ROUTING_KEY (required), BENCH_PREFIX, BENCH_SEED.
-- done() prints one line "BENCH_JSON {...}" with wrk's figures and this script's own counts.

local routing_key = os.getenv("BENCH_ROUTING_KEY") or error("BENCH_ROUTING_KEY is not set")
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local seed = tonumber(os.getenv("BENCH_SEED") or "1")

local REPEAT_PCT, RESOLVE_PCT, ACK_PCT = 12, 6, 2
local KEY_DELAY, OPEN_KEYS_MAX = 512, 4096
local SEVERITIES = { "critical", "error", "warning", "info" }
local HEADERS = { ["Content-Type"] = "application/json" }

-- main state: the threads, to collect their counts in done()
local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_no", thread_count)
   table.insert(threads, thread)
end

-- per-thread state (each wrk thread runs its own Lua state)
counter = 0
generated = 0 -- requests built; each was sent or about to be when wrk stopped
ok = 0 -- 2xx answers
non_ok = 0
statuses = {}
local fresh, fresh_head, fresh_tail = {}, 1, 0
local open_keys, open_n = {}, 0

function init(args)
   math.randomseed(seed * 1000 + (thread_no or 1))
end

local function trigger(key, n)
   local host = n % 500
   return '{"routing_key":"' .. routing_key .. '","event_action":"trigger","dedup_key":"' .. key .. '",'
      .. '"payload":{"summary":"High request latency on api-' .. host .. ' (p99 above 500 ms)",'
      .. '"source":"api-' .. host .. '.prod.example.net","severity":"' .. SEVERITIES[n % 4 + 1]
      .. '","component":"api",'
      .. '"group":"prod-eu","class":"latency","custom_details":{"p99_ms":' .. (500 + n % 700) .. ','
      .. '"threshold_ms":500,"region":"eu-west-1"}},'
      .. '"links":[{"href":"https://grafana.example.net/d/api?var-host=api-' .. host .. '","text":"Dashboard"}],'
      .. '"client":"Prometheus Alertmanager","client_url":"http://alertmanager.example.net:9093"}'
end

local function follow_up(action, key)
   return '{"routing_key":"' .. routing_key .. '","event_action":"' .. action .. '","dedup_key":"' .. key .. '"}'
end

local function body()
   counter = counter + 1
   while fresh_tail - fresh_head + 1 > KEY_DELAY do
      local key = fresh[fresh_head]
      fresh[fresh_head] = nil
      fresh_head = fresh_head + 1
      if open_n < OPEN_KEYS_MAX then
         open_n = open_n + 1
         open_keys[open_n] = key
      else
         open_keys[math.random(OPEN_KEYS_MAX)] = key
      end
   end
   local roll = math.random(100) - 1
   if open_n > 0 and roll < REPEAT_PCT then
      return trigger(open_keys[math.random(open_n)], math.random(1048576))
   end
   if open_n > 0 and roll < REPEAT_PCT + RESOLVE_PCT then
      local i = math.random(open_n)
      local key = open_keys[i]
      open_keys[i] = open_keys[open_n]
      open_keys[open_n] = nil
      open_n = open_n - 1
      return follow_up("resolve", key)
   end
   if open_n > 0 and roll < REPEAT_PCT + RESOLVE_PCT + ACK_PCT then
      return follow_up("acknowledge", open_keys[math.random(open_n)])
   end
   local key = prefix .. "-" .. (thread_no or 1) .. "-" .. counter
   fresh_tail = fresh_tail + 1
   fresh[fresh_tail] = key
   return trigger(key, counter)
end

function request()
   generated = generated + 1
   return wrk.format("POST", "/v2/enqueue", HEADERS, body())
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      non_ok = non_ok + 1
      statuses[status] = (statuses[status] or 0) + 1
   end
end

function done(summary, latency, requests)
   local total_generated, total_ok, total_non_ok = 0, 0, 0
   local by_status = {}
   for _, thread in ipairs(threads) do
      total_generated = total_generated + thread:get("generated")
      total_ok = total_ok + thread:get("ok")
      total_non_ok = total_non_ok + thread:get("non_ok")
      for status, n in pairs(thread:get("statuses")) do
         by_status[status] = (by_status[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(by_status) do
      table.insert(parts, string.format('"%d":%d', status, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,"generated":%d,"ok":%d,"non_ok":%d,'
         .. '"non_ok_status":{%s},"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.duration, summary.requests, summary.bytes, total_generated, total_ok, total_non_ok,
      table.concat(parts, ","), e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
   ))
end
