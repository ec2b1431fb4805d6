#!/usr/bin/env python3
"""Field collection numbers for BENCHMARKS.md: sustained ingestion of ODK submissions over
OpenRosa on SQLite, with identity resolution on (every submission becomes a case with a person,
its name words, normalised identifiers and matcher blocking keys stored as keyed hashes) and its
photo stored as an encrypted case document.

- starts `passage demo --cases N` (default 60) on a fresh temporary data dir, reads the first
  demo device (the Monrovia tablet, allowed to submit AVRR) from demo-devices.txt;
- takes bench/avrr_submission.xml (a 40-answer AVRR record in the shape JavaRosa serialises,
  photo named in person/id_photo), sets the version the server's XForm carries, and checks with
  one probe POST that it is registered (processed, with its photo as a document), not quarantined;
- posts it for --duration seconds from 50 concurrent connections (`wrk -t2 -c50`, a second
  process on the same machine; bench/submit.lua), every request with its own instanceID and a
  200 KB photo part (fixed pseudo-random bytes framed as a JPEG: FF D8 FF E0 … FF D9);
- reports 201s per second, latency p50/p95/p99, every non-201 answer, the database growth and
  bytes per submission, the submissions by state and cases made, server CPU and memory, and
  ERROR/WARN lines of the server's log.

Usage: python3 bench/collection.py [--bin target/release/passage] [--duration 30] [--quick]
       [--cases 60] [--connections 50] [--threads 2] [--keep]
Needs wrk and sqlite3 (apt-get install wrk sqlite3). Does not build: `cargo build --release -p
passage` first (or pass --build)."""

import argparse, http.client, os, random, re, shutil, subprocess, sys, tempfile, time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing foundation
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from foundation import BIN, ROOT, free_port, wait_ready  # noqa: E402

TEMPLATE = os.path.join(ROOT, "bench", "avrr_submission.xml")
PHOTO_BYTES = 200 * 1024
OPENROSA = {"X-OpenRosa-Version": "1.0"}


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw).stdout


def sql(db, query):
    """Rows of a query as lists of strings (sqlite3 CLI, read-only)."""
    out = sh(["sqlite3", "-readonly", "-separator", "\t", db, query])
    return [line.split("\t") for line in out.splitlines() if line]


def newest_source():
    newest, path = 0.0, None
    for top in ("crates", "forms", "indicators", "Cargo.toml", "Cargo.lock"):
        base = os.path.join(ROOT, top)
        walk = [(base, [], [""])] if os.path.isfile(base) else os.walk(base)
        for d, _, files in walk:
            if "/target" in d:
                continue
            for f in files:
                p = os.path.join(d, f) if f else d
                m = os.path.getmtime(p)
                if m > newest:
                    newest, path = m, p
    return newest, path


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def db_bytes(db):
    return sum(os.path.getsize(db + s) for s in ("", "-wal", "-shm") if os.path.exists(db + s))


def db_pages_bytes(db):
    """Bytes of the pages in use, as a reader sees the database (WAL included, free pages not)."""
    page_count, free, size = (int(sql(db, f"pragma {p}")[0][0]) for p in ("page_count", "freelist_count", "page_size"))
    return (page_count - free) * size


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def photo(seed=20261201):
    """--photo-kib (200 KB by default) of fixed pseudo-random bytes framed as a JPEG (SOI + APP0 … EOI)."""
    body = bytearray(random.Random(seed).randbytes(PHOTO_BYTES))
    body[:4] = b"\xff\xd8\xff\xe0"
    body[-2:] = b"\xff\xd9"
    return bytes(body)


def multipart(xml, photo_name, photo_bytes, boundary="passage-bench-probe"):
    parts = [
        (b'Content-Disposition: form-data; name="xml_submission_file"; filename="submission.xml"\r\n'
         b"Content-Type: text/xml\r\n\r\n", xml),
        (f'Content-Disposition: form-data; name="{photo_name}"; filename="{photo_name}"\r\n'
         "Content-Type: image/jpeg\r\n\r\n".encode(), photo_bytes),
    ]
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + h + data + b"\r\n" for h, data in parts)
    return body + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body, {**OPENROSA, **(headers or {})})
    r = c.getresponse()
    return r.status, r.read()


def answer_leaves(xml_text):
    """Non-empty leaf elements of the record, without meta (instanceID)."""
    root = ET.fromstring(xml_text)
    meta = {id(e) for m in root.iter() if m.tag.split("}")[-1] == "meta" for e in m.iter()}
    return [e.tag for e in root.iter() if len(e) == 0 and (e.text or "").strip() and id(e) not in meta]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=BIN, help="passage binary (default: %(default)s)")
    ap.add_argument("--duration", type=int, default=30, help="seconds of load (default 30)")
    ap.add_argument("--quick", action="store_true", help="a 5-second smoke run")
    ap.add_argument("--cases", type=int, default=60, help="demo cases generated before the run")
    ap.add_argument("--connections", type=int, default=50, help="concurrent devices (wrk -c)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (-t)")
    ap.add_argument("--photo-kib", type=int, default=200,
                    help="photo size in KiB (default 200, the issue's; smaller shows what the photo costs)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dir and logs")
    ap.add_argument("--build", action="store_true", help="cargo build --release -p passage first")
    args = ap.parse_args()
    if args.quick:
        args.duration = 5
    global PHOTO_BYTES
    PHOTO_BYTES = args.photo_kib * 1024
    for tool, pkg in (("wrk", "wrk"), ("sqlite3", "sqlite3")):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install {pkg}")
    if args.build:
        subprocess.run(["cargo", "build", "--release", "-p", "passage", "--locked"], cwd=ROOT, check=True)
    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary} is missing: cargo build --release -p passage (or --bin PATH)")
    newest, newest_path = newest_source()
    stale = newest > os.path.getmtime(binary)
    if stale:
        print(f"WARNING: {os.path.relpath(binary, ROOT)} is older than {os.path.relpath(newest_path, ROOT)} "
              f"(by {newest - os.path.getmtime(binary):.0f} s): it may not be the current code", file=sys.stderr)
    debug = "/debug/" in binary

    tmp = tempfile.mkdtemp(prefix="passage-bench-collection-")
    data = os.path.join(tmp, "demo")
    db = os.path.join(data, "passage.sqlite3")
    stderr_path, stdout_path = os.path.join(tmp, "server.stderr"), os.path.join(tmp, "server.stdout")
    free = shutil.disk_usage(tmp).free
    # ~2 sealed copies of the photo per submission (submission file + case document), before the WAL.
    need = args.duration * 600 * 2 * PHOTO_BYTES * 1.3
    if free < need:
        print(f"WARNING: {free / 2**30:.1f} GiB free in {tmp}; a run at 600/s could need ~{need / 2**30:.1f} GiB",
              file=sys.stderr)
    port = free_port()
    env = dict(os.environ, PASSAGE_LOG=os.environ.get("PASSAGE_LOG", "warn"))
    server = None
    try:
        t0 = time.perf_counter()
        with open(stderr_path, "w") as err, open(stdout_path, "w") as out:
            server = subprocess.Popen([binary, "demo", "--cases", str(args.cases), "--data-dir", data,
                                       "--listen", f"127.0.0.1:{port}"], stdout=out, stderr=err, env=env)
        wait_ready(port, timeout=600)
        started = time.perf_counter() - t0
        with open(os.path.join(data, "demo-devices.txt")) as f:
            tablet = next(l.rstrip("\n").split("\t") for l in f if l.strip() and not l.startswith("#"))
        base = tablet[1]  # /key/{token}

        # The form as the tablet downloads it: its version goes into the record.
        status, xform = request(port, "GET", f"{base}/forms/avrr_case.xml")
        if status != 200:
            raise SystemExit(f"GET {{base}}/forms/avrr_case.xml answered {status}")
        xform = xform.decode()
        m = re.search(r'<data\b[^>]*\bid="avrr_case"[^>]*>', xform)
        version = re.search(r'\bversion="([^"]+)"', m.group(0)).group(1) if m else None
        if not version:
            raise SystemExit("the AVRR XForm has no <data id=\"avrr_case\" version=\"…\"> instance")
        if 'nodeset="/data/person/id_photo"' not in xform:
            raise SystemExit("the AVRR XForm has no /data/person/id_photo question")
        with open(TEMPLATE, encoding="utf-8") as f:
            template = f.read().replace("__FORM_VERSION__", version)
        probe_xml = template.replace("__INSTANCE_ID__", "uuid:bench-probe")
        root = ET.fromstring(probe_xml)
        photo_name = root.find("person/id_photo").text.strip()
        answers = answer_leaves(probe_xml)
        template_path = os.path.join(tmp, "template.xml")
        photo_path = os.path.join(tmp, "photo.jpg")
        with open(template_path, "w", encoding="utf-8") as f:
            f.write(template)
        picture = photo()
        with open(photo_path, "wb") as f:
            f.write(picture)

        # One probe: the record must be registered with its photo, not quarantined.
        body, ctype = multipart(probe_xml.encode(), photo_name, picture)
        status, answer = request(port, "POST", f"{base}/submission", body, {"Content-Type": ctype})
        if status != 201:
            raise SystemExit(f"the probe submission answered {status}: {answer.decode(errors='replace')}")
        state = sql(db, "select state, coalesce(problem, ''), case_id is not null from submissions "
                        "where instance_id = 'uuid:bench-probe'")
        if not state or state[0][0] != "processed":
            raise SystemExit(f"the probe submission was not registered: {state}")
        docs = sql(db, "select count(*) from case_documents d join submissions s on s.case_id = d.case_id "
                       "where s.instance_id = 'uuid:bench-probe'")[0][0]
        if docs != "1":
            raise SystemExit(f"the probe's case has {docs} documents, expected its photo")

        before_db, before_dir = db_pages_bytes(db), dir_bytes(data)
        before_cases = int(sql(db, "select count(*) from cases")[0][0])
        cpu0, rss0 = cpu_seconds(server.pid), status_kib(server.pid, "VmRSS")
        load_before = os.getloadavg()[0]
        run = f"{int(time.time())}{random.randrange(1000):03d}"
        cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--timeout", "10s",
               "--latency", "-s", os.path.join(ROOT, "bench", "submit.lua"), f"http://127.0.0.1:{port}{base}/submission"]
        wrk_env = dict(os.environ, BENCH_TEMPLATE=template_path, BENCH_PHOTO=photo_path,
                       BENCH_PHOTO_NAME=photo_name, BENCH_RUN=run)
        wrk_out = subprocess.run(cmd, capture_output=True, text=True, env=wrk_env)
        if wrk_out.returncode != 0 or "RESULT" not in wrk_out.stdout:
            raise SystemExit(f"wrk failed ({wrk_out.returncode}):\n{wrk_out.stdout}\n{wrk_out.stderr}")
        line = next(l for l in wrk_out.stdout.splitlines() if l.startswith("RESULT"))
        w = dict(kv.split("=", 1) for kv in line.split()[1:])
        # Requests still in the server when wrk stopped finish (or are dropped) before the counts
        # are taken: wait until the submissions table stops changing for 2 s (at most 60 s).
        settle_until, last, stable = time.time() + 60, None, 0
        while time.time() < settle_until and stable < 4:
            now = sql(db, "select state, count(*) from submissions group by state")
            stable = stable + 1 if now == last else 0
            last = now
            time.sleep(0.5)
        cpu = cpu_seconds(server.pid) - cpu0
        rss, hwm = status_kib(server.pid, "VmRSS"), status_kib(server.pid, "VmHWM")
        live_db = db_bytes(db)
        server.terminate()
        server.wait(timeout=60)
        server = None
        after_db, after_dir, after_file = db_pages_bytes(db), dir_bytes(data), db_bytes(db)
        states = sql(db, "select state, count(*) from submissions group by state order by state")
        problems = sql(db, "select problem, count(*) from submissions where state = 'quarantined' group by problem")
        cases = int(sql(db, "select count(*) from cases")[0][0])
        bench_subs = sql(db, "select count(*), count(case_id) from submissions where instance_id like 'uuid:bench-%' "
                             "and instance_id != 'uuid:bench-probe'")[0]
        bench_docs = sql(db, "select count(*), coalesce(sum(d.size), 0) from case_documents d join submissions s on "
                             "s.case_id = d.case_id where s.instance_id like 'uuid:bench-%' and s.instance_id != "
                             "'uuid:bench-probe'")[0]
        keys = sql(db, "select count(distinct c.person_id), count(distinct i.person_id), "
                       "sum(i.field = 'match'), count(i.person_id) from submissions s join cases c on c.id = s.case_id "
                       "left join person_index i on i.person_id = c.person_id "
                       "where s.instance_id like 'uuid:bench-%'")[0]
        tables = sql(db, "select name, sum(pgsize) from dbstat group by name order by 2 desc limit 6") \
            if sql(db, "select count(*) from pragma_compile_options where compile_options = 'ENABLE_DBSTAT_VTAB'")[0][0] == "1" \
            else []
    finally:
        if server is not None:
            server.kill()
            server.wait()
    with open(stderr_path, errors="replace") as f:
        log = f.read().splitlines()
    flagged = [l for l in log if re.search(r"\b(ERROR|WARN)\b", l)]
    shapes = {}
    for l in flagged:
        key = re.sub(r"^\S+\s+", "", l)  # without the timestamp
        key = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<uuid>", key)
        shapes[key] = shapes.get(key, 0) + 1

    created = int(w["created"])
    growth = after_db - before_db
    dur = float(w["duration"])
    per_s = created / dur
    nproc = len(os.sched_getaffinity(0))
    processed = dict((s, int(n)) for s, n in states)
    build = "debug build" if debug else "release build"
    date = time.strftime("%Y-%m-%d")
    command = " ".join(["python3", "bench/collection.py"] + sys.argv[1:])

    print(f"\n## Field collection (ODK submissions over OpenRosa) — {date}\n")
    print("Command (starts `passage demo --cases {0}` on a fresh temporary data dir, posts one probe and checks it is "
          "registered with its photo, then loads the first demo tablet's `{{base}}/submission` with `wrk`, a second "
          "process on the same machine):\n".format(args.cases))
    print(f"```sh\n{command}\n```\n")
    print(f"Machine: {nproc} cores (`nproc`), {os.path.relpath(binary, ROOT)} ({build}"
          f"{', OLDER THAN THE SOURCES' if stale else ''}); `wrk -t{args.threads} -c{args.connections}` ran on the "
          f"same {nproc} cores as the server (not pinned), so client and server share them. SQLite, identity "
          f"resolution on. The record: `bench/avrr_submission.xml`, {len(answers)} answered fields (form version "
          f"{version}), one {PHOTO_BYTES // 1024} KiB ({PHOTO_BYTES:,} bytes) photo part ({w['bytes_per_request']} bytes per POST); every "
          f"request has its own instanceID (same names and dates).\n")
    print("| What | Measured | Target |")
    print("|---|---|---|")
    print(f"| sustained ingestion, {args.duration} s, {args.connections} devices at once: 201 answers per second | "
          f"**{per_s:,.0f} per second** ({created:,} in {dur:.1f} s) | ≥ 500 per second |")
    print(f"| latency p50 / p95 / p99 (max) | {float(w['p50']):.1f} ms / {float(w['p95']):.1f} ms / "
          f"**{float(w['p99']):.1f} ms** ({float(w['max']):.0f} ms) | p99 < 100 ms |")
    print(f"| answers other than 201 (by status); of them 4xx/5xx; socket errors | "
          f"{w['other'].replace(':', ' × ').replace(',', ', ')}; {w['non2xx']}; "
          f"{w['errors']} (connect {w['connect']}, read {w['read']}, write {w['write']}, timeout {w['timeout']}) | none |")
    print(f"| submissions by state after the run (all, incl. 1 probe) | "
          f"{', '.join(f'{s} {int(n):,}' for s, n in states)} | 0 quarantined |")
    print(f"| cases made by the load / in the database | {int(bench_subs[1]):,} of {int(bench_subs[0]):,} bench "
          f"submissions; {cases:,} cases ({before_cases:,} before) | one per 201 |")
    print(f"| photo documents stored by the load | {int(bench_docs[0]):,} ({int(bench_docs[1]) / 2**20:,.0f} MiB) | "
          f"one per case |")
    print(f"| identity resolution keys | {int(keys[1]):,} of {int(keys[0]):,} persons indexed, "
          f"{int(keys[2] or 0) / max(int(keys[1]), 1):.1f} blocking keys + "
          f"{(int(keys[3]) - int(keys[2] or 0)) / max(int(keys[1]), 1):.1f} search keys each | every person |")
    stored = max(int(bench_subs[0]), 1)
    print(f"| database growth (pages in use) | {growth / 2**20:,.1f} MiB for {int(bench_subs[0]):,} stored submissions: "
          f"**{growth / stored / 1024:,.0f} KiB per submission** (data dir grew {(after_dir - before_dir) / 2**20:,.0f} MiB; "
          f"file {after_file / 2**20:,.0f} MiB after a clean stop, {live_db / 2**20:,.0f} MiB with the WAL while "
          f"running) | recorded |")
    print(f"| server CPU | {cpu:.1f} s for {int(bench_subs[0]):,} stored submissions "
          f"({cpu * 1000 / stored:.1f} ms each; {cpu / dur * 100:.0f} % of one core over the run) | recorded |")
    print(f"| server memory: before the load; after; peak | {rss0 / 1024:.0f} MiB; {rss / 1024:.0f} MiB; "
          f"{hwm / 1024:.0f} MiB | recorded |")
    print()
    verdict = []
    if int(bench_subs[1]) < created:
        verdict.append(f"{created - int(bench_subs[1])} of the {created} 201 answers have no case")
    if int(bench_subs[0]) > created:
        print(f"Note: {int(bench_subs[0]) - created} submissions were stored without a 201 reaching wrk "
              "(in flight when wrk stopped, or answered after its timeout).")
    left = sum(processed.get(k, 0) for k in ("received", "incomplete"))
    if left:
        verdict.append(f"{left} submissions left 'received'/'incomplete' (stored, never registered) after the "
                       "load stopped: their requests were cut off when wrk closed its connections")
    if processed.get("quarantined"):
        verdict.append("quarantined: " + "; ".join(f"{n} × {p}" for p, n in problems))
    if int(bench_docs[0]) < int(bench_subs[1]):
        verdict.append(f"only {bench_docs[0]} photo documents for {bench_subs[1]} cases")
    print("Checks: " + ("all 201s registered as cases with their photo, nothing quarantined." if not verdict
                        else "PROBLEMS: " + " | ".join(verdict)))
    print(f"Server log ({len(log)} lines at PASSAGE_LOG={env['PASSAGE_LOG']}): {len(flagged)} ERROR/WARN lines"
          + ("" if not flagged else ":"))
    for k, n in sorted(shapes.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {n} × {k[:300]}")
    if tables:
        print("Largest tables after the run: " + ", ".join(f"{n} {int(s) / 2**20:,.0f} MiB" for n, s in tables))
    print(f"Demo started and ready in {started:.1f} s; 1-minute load average before the load {load_before:.2f}"
          + (" (something else was running: the numbers are not clean)" if load_before > 0.7 else "") + ".")
    if args.keep:
        print(f"Kept: {tmp} (server.stderr, demo/, template.xml, photo.jpg)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if verdict else 0


if __name__ == "__main__":
    sys.exit(main())
