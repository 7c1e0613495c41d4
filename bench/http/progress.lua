-- wrk script for bench/http/run.sh: POSTs RemoteTqdm-style progress events to /progress.
-- Parameterised by the environment (wrk passes `-- args` to the worker threads only, while
-- done() runs in wrk's main Lua state, which sees the environment too):
--   BENCH_SHAPE  hot     one task id, one event per request (application/json)
--                spread  one event per request, task id drawn per request from BENCH_TASKS ids
--                ndjson  BENCH_BATCH events per request over distinct tasks (application/x-ndjson)
--   BENCH_TASKS  task ids in `spread` and `ndjson` (10000)
--   BENCH_FIRST  the first shard number of those ids (0): spread covers shards
--                BENCH_FIRST .. BENCH_FIRST + BENCH_TASKS - 1
--   BENCH_BATCH  events per `ndjson` request (100)
--   BENCH_TS     the events' timestamp (seconds since the epoch). One value for the whole run
--                and every wrk thread: the daemon ignores an event older than the task's last
--                one and applies ties, so a shared timestamp keeps every event applied without
--                formatting a fresh body per request.
--   BENCH_LABEL  a label echoed in the result line
--   BENCH_STRICT 1: count every non-2xx answer in a response() callback. Off by default: the
--                callback makes wrk parse every response into Lua, CPU that the servers share
--                on a small machine; without it wrk counts answers from 400 up (status_errors).
-- Every body is built in init(); request() only picks one, so wrk's own cost stays low.
-- done() prints one parseable line:
--   RESULT label=... requests=N seconds=S rps=R p50_us=A p99_us=B events=E events_per_s=F
--          status_errors=N non2xx=N|- connect_errors=N read_errors=N write_errors=N timeouts=N

local shape = os.getenv("BENCH_SHAPE") or "hot"
local tasks = tonumber(os.getenv("BENCH_TASKS") or "10000")
local first = tonumber(os.getenv("BENCH_FIRST") or "0")
local batch = tonumber(os.getenv("BENCH_BATCH") or "100")
local ts = tonumber(os.getenv("BENCH_TS") or "") or os.time()
local label = os.getenv("BENCH_LABEL") or shape

local strict = os.getenv("BENCH_STRICT") == "1"
local events_per_request = shape == "ndjson" and batch or 1

-- About 200 bytes, the fields RemoteTqdm sends on an update.
local function event(task_id, desc, n, total, unit)
  return string.format(
    '{"task_id":"%s","desc":"%s","n":%d,"total":%d,"unit":"%s","status":"update","timestamp":%.6f}',
    task_id, desc, n, total, unit, ts)
end

local function spread_event(i, n)
  return event(string.format("etl-7f3a9c2e/resize-images/shard-%05d", i),
               string.format("Resizing product images, shard %d of %d (worker-%02d)", i, tasks, i % 64),
               n, 250000, "img")
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

non2xx = 0
if strict then
  function response(status, _, _)
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
  end
end

local requests = {}
local count = 0
local next_index = 0

function init(args)
  math.randomseed(os.time() * 131 + (thread_id or 0))
  local json = { ["Content-Type"] = "application/json" }
  if shape == "hot" then
    -- One task; n walks through 1000 values so the bodies are not byte-identical.
    for k = 1, 1000 do
      local body = event("train-resnet50-7f3a9c2e/epoch-03/train",
                         "Epoch 3/90 training on imagenet-1k, rank 0 of 8 (node gpu-a17)",
                         k * 1251, 1251000, "batch")
      requests[k] = wrk.format("POST", "/progress", json, body)
    end
  elseif shape == "spread" then
    for i = 1, tasks do
      requests[i] = wrk.format("POST", "/progress", json, spread_event(first + i - 1, math.random(0, 250000)))
    end
  elseif shape == "ndjson" then
    -- Body b carries tasks b*batch .. b*batch+batch-1, so all bodies together cover every task.
    local ndjson = { ["Content-Type"] = "application/x-ndjson" }
    local bodies = math.max(1, math.floor(tasks / batch))
    for b = 0, bodies - 1 do
      local lines = {}
      for j = 0, batch - 1 do
        lines[j + 1] = spread_event((b * batch + j) % tasks, math.random(0, 250000))
      end
      requests[b + 1] = wrk.format("POST", "/progress", ndjson, table.concat(lines, "\n") .. "\n")
    end
  else
    error("BENCH_SHAPE must be hot, spread or ndjson, not '" .. shape .. "'")
  end
  count = #requests
end

function request()
  if shape == "hot" then
    next_index = next_index % count + 1
    return requests[next_index]
  end
  return requests[math.random(count)]
end

function done(summary, latency, _)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local events = summary.requests * events_per_request
  local bad = "-"
  if strict then
    bad = 0
    for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  end
  io.write(string.format(
    "RESULT label=%s requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d events=%d " ..
    "events_per_s=%.1f status_errors=%d non2xx=%s connect_errors=%d read_errors=%d " ..
    "write_errors=%d timeouts=%d\n",
    label, summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99), events, events / seconds,
    e.status, tostring(bad), e.connect, e.read, e.write, e.timeout))
end
