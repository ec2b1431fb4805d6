#!/usr/bin/env python3
"""Foundation numbers for BENCHMARKS.md (issue #2): start to ready on the demo data, login and
home page latency at 100 concurrent clients (wrk, a second process), idle resident memory and
the release binary's size. Usage: python3 bench/foundation.py [--duration SECONDS]"""

import argparse, base64, hashlib, hmac, http.client, os, re, shutil, socket, statistics, struct, subprocess, sys, tempfile, time, urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "passage")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data_dir, port):
    env = dict(os.environ, PASSAGE_LOG="warn")
    return subprocess.Popen([BIN, "demo", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def wait_ready(port, timeout=30.0):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.002)
    raise SystemExit("passage did not become ready")


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def totp(key, at=None):
    """RFC 6238 code (SHA-1, 6 digits, 30 s) for the key a set-up page shows."""
    compact = key.replace(" ", "").upper()
    secret = base64.b32decode(compact + "=" * (-len(compact) % 8))
    step = int((time.time() if at is None else at) // 30)
    mac = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def login_cookie(port, data_dir):
    """Sign in as the caseworker; their role requires two-step verification, which the first
    sign-in of a fresh demo sets up from the key the page shows."""
    with open(os.path.join(data_dir, "demo-accounts.txt")) as f:
        pw = next(l.split("\t")[1] for l in f if l.startswith("caseworker\t"))
    body = urllib.parse.urlencode({"username": "caseworker", "password": pw})
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    assert r.status == 303, r.status
    cookie = r.getheader("Set-Cookie").split(";")[0]
    if r.getheader("Location") == "/login/second-factor":
        c.request("GET", "/login/second-factor", headers={"Cookie": cookie})
        page = c.getresponse().read().decode()
        key = re.search(r"data-totp-secret>([^<]+)<", page).group(1)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"csrf_token": csrf, "code": totp(key)})
        c.request("POST", "/login/second-factor", form,
                  {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
        done = c.getresponse()
        done.read()
        assert done.status == 303 and done.getheader("Location") == "/", done.status
    return cookie


def wrk(url, duration, header=None):
    cmd = ["wrk", "-t2", "-c100", f"-d{duration}s", "--latency", "-s", os.path.join(ROOT, "bench", "p95.lua"), url]
    if header:
        cmd[1:1] = ["-H", header]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    return dict(kv.split("=") for kv in line.split()[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=20)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    subprocess.run(["cargo", "build", "--release", "-p", "passage", "--locked"], cwd=ROOT, check=True)
    data = tempfile.mkdtemp(prefix="passage-bench-")
    port = free_port()
    try:
        first = start(os.path.join(data, "demo"), port)  # seeds the demo (not timed)
        wait_ready(port)
        stop(first)
        starts = []
        for _ in range(5):
            p = start(os.path.join(data, "demo"), port)
            starts.append(wait_ready(port))
            stop(p)
        server = start(os.path.join(data, "demo"), port)
        wait_ready(port)
        time.sleep(5)
        idle = rss_mib(server.pid)
        cookie = login_cookie(port, os.path.join(data, "demo"))
        base = f"http://127.0.0.1:{port}"
        login = wrk(base + "/login", args.duration)
        home = wrk(base + "/", args.duration, header=f"Cookie: {cookie}")
        after = rss_mib(server.pid)
        stop(server)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    size = os.path.getsize(BIN) / (1024 * 1024)
    print(f"| start to ready (demo data, median of 5) | {statistics.median(starts) * 1000:.0f} ms | < 1 s |")
    print(f"| login page, 100 clients: p95 / p99 / req/s | {login['p95']} ms / {login['p99']} ms / {login['rps']} (errors {login['errors']}, non-2xx {login['non2xx']}) | p95 < 50 ms |")
    print(f"| home page (signed in), 100 clients: p95 / p99 / req/s | {home['p95']} ms / {home['p99']} ms / {home['rps']} (errors {home['errors']}, non-2xx {home['non2xx']}) | p95 < 50 ms |")
    print(f"| idle resident memory (after start; after the load) | {idle:.1f} MiB; {after:.1f} MiB | < 60 MB |")
    print(f"| release binary size | {size:.1f} MiB | recorded |")


if __name__ == "__main__":
    sys.exit(main())
