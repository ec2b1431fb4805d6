-- POST the JSON body in $BENCH_BODY on every request, and print percentiles like p95.lua.
local f = assert(io.open(os.getenv("BENCH_BODY"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
dofile(os.getenv("BENCH_DIR") .. "/p95.lua")
