-- POST an ODK submission on every request, as ODK Collect sends it: multipart/form-data with the
-- part `xml_submission_file` (the XML in $BENCH_TEMPLATE, its `__INSTANCE_ID__` replaced by an
-- id unique to the request) and one part with the photo in $BENCH_PHOTO, named and given the
-- file name $BENCH_PHOTO_NAME (the name the XML's id_photo holds). $BENCH_RUN makes the ids
-- unique across runs. Counts answers by status and prints one RESULT line (milliseconds).

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local xml = slurp(os.getenv("BENCH_TEMPLATE"))
local photo = slurp(os.getenv("BENCH_PHOTO"))
local photo_name = os.getenv("BENCH_PHOTO_NAME")
local run = os.getenv("BENCH_RUN") or "0"
local at = assert(xml:find("__INSTANCE_ID__", 1, true), "the template has no __INSTANCE_ID__")
local boundary = "----passage-bench-" .. run

local head = "--" .. boundary .. "\r\n"
  .. "Content-Disposition: form-data; name=\"xml_submission_file\"; filename=\"submission.xml\"\r\n"
  .. "Content-Type: text/xml\r\n\r\n"
  .. xml:sub(1, at - 1)
local tail = xml:sub(at + #"__INSTANCE_ID__") .. "\r\n"
  .. "--" .. boundary .. "\r\n"
  .. "Content-Disposition: form-data; name=\"" .. photo_name .. "\"; filename=\"" .. photo_name .. "\"\r\n"
  .. "Content-Type: image/jpeg\r\n\r\n"
  .. photo .. "\r\n"
  .. "--" .. boundary .. "--\r\n"

wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.headers["X-OpenRosa-Version"] = "1.0"

-- Main state: number the threads, keep them to read their counts at the end.
local threads = {}
local next_id = 1
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- Per thread.
local counter = 0
statuses = {}
function request()
  counter = counter + 1
  local instance = string.format("uuid:bench-%s-%d-%d", run, id, counter)
  return wrk.format(nil, nil, nil, head .. instance .. tail)
end

function response(status, headers, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      total[k] = (total[k] or 0) + v
    end
  end
  local created = total["201"] or 0
  local other = {}
  for k, v in pairs(total) do
    if k ~= "201" then table.insert(other, k .. ":" .. v) end
  end
  table.sort(other)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d created=%d other=%s errors=%d connect=%d read=%d write=%d timeout=%d non2xx=%d "
      .. "duration=%.3f p50=%.2f p90=%.2f p95=%.2f p99=%.2f max=%.2f created_per_s=%.1f bytes_per_request=%d\n",
    summary.requests, created, (#other > 0) and table.concat(other, ",") or "none",
    e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout, e.status,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    created / (summary.duration / 1e6), #head + #tail + 40))
end
