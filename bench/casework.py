#!/usr/bin/env python3
"""Case-work numbers for BENCHMARKS.md (issue #3), on SQLite and on PostgreSQL:

- `passage demo --cases N` generation time (N = 200,000 by default);
- case list filtered by programme + stage + county, name search, and a case page: p50/p95 at
  10 concurrent clients (wrk, a second process), through the API with a bearer token (the case
  page through the browser route with a session cookie);
- case creation through the API, sustained for the whole run at 16 concurrent clients.

Usage: python3 bench/casework.py [--cases 200000] [--duration 20] [--backend sqlite|postgres|both]
Needs wrk; PostgreSQL on 127.0.0.1:5432 (trust auth) for the PostgreSQL run."""

import argparse, http.client, json, os, re, shutil, subprocess, sys, tempfile, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from foundation import BIN, ROOT, free_port, login_cookie, stop, wait_ready  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432/"


def start(data_dir, port, cases, env_extra):
    env = dict(os.environ, PASSAGE_LOG="warn", **env_extra)
    return subprocess.Popen([BIN, "demo", "--cases", str(cases), "--data-dir", data_dir, "--listen",
                             f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            text=True)


def request(port, method, path, headers, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body, headers)
    r = c.getresponse()
    return r.status, r.read().decode()


def api_token(port, cookie):
    """Create a write token through the account page, as a user would."""
    _, page = request(port, "GET", "/account", {"Cookie": cookie})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": csrf, "name": "bench", "scope": "write", "valid_days": "1"})
    status, page = request(port, "POST", "/account/tokens",
                           {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
                            "Origin": f"http://127.0.0.1:{port}"}, body)
    return re.search(r'id="new-token">([^<]+)<', page).group(1)


def wrk(url, duration, headers, clients=10, script="p95.lua"):
    cmd = ["wrk", "-t2", f"-c{clients}", f"-d{duration}s", "--latency", "-s", os.path.join(ROOT, "bench", script)]
    for h in headers:
        cmd += ["-H", h]
    env = dict(os.environ, BENCH_DIR=os.path.join(ROOT, "bench"))
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True, env=env).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    return dict(kv.split("=") for kv in line.split()[1:])


def run(backend, cases, duration):
    data = tempfile.mkdtemp(prefix=f"passage-bench-{backend}-")
    env = {}
    if backend == "postgres":
        db = "passage_bench"
        subprocess.run(["psql", PG + "postgres", "-qc", f"drop database if exists {db}"], check=True)
        subprocess.run(["psql", PG + "postgres", "-qc", f"create database {db}"], check=True)
        env["PASSAGE_DATABASE_URL"] = PG + db
    port = free_port()
    try:
        t0 = time.perf_counter()
        server = start(data, port, cases, env)
        wait_ready(port, timeout=7200)
        generated = time.perf_counter() - t0
        cookie = login_cookie(port, data)
        token = api_token(port, cookie)
        auth = f"Authorization: Bearer {token}"
        _, me = request(port, "GET", "/api/v1/me", {"Authorization": f"Bearer {token}"})
        org = json.loads(me)["memberships"][0]["organisation_id"]
        base = f"http://127.0.0.1:{port}"
        # A busy filter: returns at its busiest stage in the capital.
        filtered = wrk(f"{base}/api/v1/cases?organisation={org}&programme=avrr&stage=counselling&county=LR-MO",
                       duration, [auth])
        _, page = request(port, "GET", f"/api/v1/cases?organisation={org}&programme=avrr&stage=counselling"
                          "&county=LR-MO", {"Authorization": f"Bearer {token}"})
        total = json.loads(page)["total"]
        # A given name and a family name, as a caseworker types them.
        _, page = request(port, "GET", f"/api/v1/cases?organisation={org}&programme=avrr&page_size=100",
                          {"Authorization": f"Bearer {token}"})
        first = next(c for c in json.loads(page)["cases"] if c["person_name"])
        name = urllib.parse.quote(" ".join(first["person_name"].replace("Demo ", "").split()[:2]))
        named = wrk(f"{base}/api/v1/cases?organisation={org}&name={name}", duration, [auth])
        _, page = request(port, "GET", f"/api/v1/cases?organisation={org}&name={name}",
                          {"Authorization": f"Bearer {token}"})
        name_hits = json.loads(page)["total"]
        case_page = wrk(f"{base}/cases/{first['id']}", duration, [f"Cookie: {cookie}"])
        # Creation: re-register an existing generated AVRR record's answers (valid by construction).
        _, case = request(port, "GET", f"/api/v1/cases/{first['id']}", {"Authorization": f"Bearer {token}"})
        body_file = os.path.join(data, "create.json")
        with open(body_file, "w") as f:
            json.dump({"organisation_id": org, "answers": json.loads(case)["answers"]}, f)
        os.environ["BENCH_BODY"] = body_file
        create = wrk(f"{base}/api/v1/programmes/avrr/cases", duration, [auth, "Content-Type: application/json"],
                     clients=16, script="create.lua")
        stop(server)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return {"generated": generated, "filtered": filtered, "total": total, "named": named, "name_hits": name_hits,
            "case_page": case_page, "create": create}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=200_000)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    subprocess.run(["cargo", "build", "--release", "-p", "passage", "--locked"], cwd=ROOT, check=True)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for b in backends:
        r = run(b, args.cases, args.duration)
        f, n, c, w = r["filtered"], r["named"], r["case_page"], r["create"]
        print(f"\n{b}, {args.cases} generated records ({r['generated']:.0f} s to generate and start)")
        print(f"| case list, programme + stage + county ({r['total']} matches, page of 50) | p50 {f['p50']} ms, "
              f"p95 {f['p95']} ms, {f['rps']} req/s (non-2xx {f['non2xx']}) | p95 < 100 ms |")
        print(f"| name search, two words ({r['name_hits']} matches, page of 50) | p50 {n['p50']} ms, p95 {n['p95']} ms, "
              f"{n['rps']} req/s (non-2xx {n['non2xx']}) | p95 < 150 ms |")
        print(f"| case page (signed in, browser route) | p50 {c['p50']} ms, p95 {c['p95']} ms, {c['rps']} req/s "
              f"(non-2xx {c['non2xx']}) | p95 < 50 ms |")
        print(f"| case creation through the API, {args.duration} s sustained, 16 clients | {w['rps']} per second, "
              f"p95 {w['p95']} ms (errors {w['errors']}, non-2xx {w['non2xx']}) | >= 300 per second |")


if __name__ == "__main__":
    sys.exit(main())
