-- wrk script for the benchmark (bench/paths_wrk.py writes its input): cycles through prepared
-- requests, one per line of the file named after `--`: method TAB path TAB headers TAB body, the
-- headers as "Name: value" items separated by the ASCII unit separator (0x1f), the body sent as
-- it is (empty: none). Each wrk thread starts at its own offset, so requests that must not
-- repeat (mark read) stay distinct. done() writes the summary as JSON to BENCH_WRK_OUT.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests = {}
local position = 1

function init(args)
  local path = args[1]
  local total_threads = tonumber(args[2]) or 1
  for line in io.lines(path) do
    local method, target, header_text, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
    local headers = {}
    for item in string.gmatch(header_text, "[^\31]+") do
      local name, value = item:match("^([^:]+):%s*(.*)$")
      if name then
        headers[name] = value
      end
    end
    if body == "" then
      body = nil
    end
    table.insert(requests, wrk.format(method, target, headers, body))
  end
  local index = tonumber(wrk.thread:get("index")) or 0
  position = math.floor(#requests * index / total_threads) + 1
end

function request()
  local r = requests[position]
  position = position + 1
  if position > #requests then
    position = 1
  end
  return r
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_WRK_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "p50_us": %d, "p99_us": %d, "mean_us": %f}',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
  out:close()
end
