#!/usr/bin/env python3
"""Record linkage and screening: Passage's matcher and the anchors side by side, same data, same
run, one evaluator (bench/match/evaluate.py).

  python3 bench/match.py [--tasks febrl3,febrl4,synthetic,screening,scale] [--tools passage,splink,rapidfuzz]
                         [--repeat N] [--timeout S] [--with-splink-1m] [--passage-bin PATH]

Tasks: FEBRL3 dedupe, FEBRL4 link (Splink anchor); synthetic dedupe, ours (Splink); screening
10k x 100k, ours (rapidfuzz token_sort_ratio brute force); 1M-record dedupe, speed (Passage
only unless --with-splink-1m). The script re-executes itself under bench/.venv-match (made by
bench/match/setup.sh when missing) and writes missing data with bench/match/make_data.py.
Passage runs with its CLI defaults; the binary is target/release/passage, or $PASSAGE_BIN.
Outputs, logs and results.{md,json} go to bench/out/match/. Exit status 1 if any run failed."""

import os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "bench", "match")
VENV = os.path.join(ROOT, "bench", ".venv-match")

if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
    if subprocess.run(["bash", os.path.join(HERE, "setup.sh")], stdout=subprocess.DEVNULL).returncode:
        sys.exit("bench/match/setup.sh failed (see above): cannot make bench/.venv-match")
    py = os.path.join(VENV, "bin", "python")
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])

import argparse, json, platform, signal, statistics, time  # noqa: E402
from importlib.metadata import version  # noqa: E402

sys.path.insert(0, HERE)
import evaluate  # noqa: E402

DATA = os.path.join(HERE, "data")
OUT = os.path.join(ROOT, "bench", "out", "match")
PY = sys.executable
TIME = "/usr/bin/time"  # GNU time (Debian package `time`), for each run's own peak RSS (see run())
TASKS = ["febrl3", "febrl4", "synthetic", "screening", "scale"]
DATA_PART = {"febrl3": "febrl", "febrl4": "febrl", "synthetic": "synthetic", "screening": "screening",
             "scale": "scale"}
# FEBRL headers the CLI does not know by name; the six address parts are joined into `address`.
FEBRL_MAP = [a for m in ["rec_id=id", "soc_sec_id=document_number", "street_number=address",
                         "address_1=address", "address_2=address", "suburb=address", "postcode=address",
                         "state=address"] for a in ("--map", m)]


def d(name):
    return os.path.join(DATA, name)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run(cmd, log, timeout=None):
    """One process: wall time, its peak RSS, the 1-minute load average before it starts.

    Peak RSS comes from /usr/bin/time (GNU time): a child forked straight from this pandas-sized
    process would report this process's RSS as its own peak, since Linux keeps the pre-exec maximum."""
    load = loadavg()
    timed = os.path.exists(TIME)
    with open(log + ".stdout", "w") as so, open(log + ".stderr", "w") as se:
        t = time.perf_counter()
        try:
            p = subprocess.Popen(([TIME, "-f", "%M", "-o", log + ".time"] if timed else []) + cmd,
                                 stdout=so, stderr=se, start_new_session=True)
        except OSError as e:
            return {"rc": 127, "error": f"cannot start {cmd[0]}: {e}"}
        try:
            rc = p.wait(timeout=timeout)
        except BaseException as e:  # timeout or Ctrl-C: stop the tool and whatever it started
            os.killpg(p.pid, signal.SIGKILL)  # (it runs in its own session)
            p.wait()
            if not isinstance(e, subprocess.TimeoutExpired):
                raise
            return {"rc": -9, "error": f"stopped after the {timeout:g} s timeout"}
        wall = time.perf_counter() - t
    rss = None
    if timed:
        with open(log + ".time") as f:
            rss = int(f.read().split()[-1]) / 1024  # time(1) may prefix "Command exited with non-zero status N"
    r = {"rc": rc, "wall_s": wall, "rss_mb": rss, "load": load}
    if rc != 0:
        with open(log + ".stderr", errors="replace") as f:
            tail = [ln.strip() for ln in f.read().strip().splitlines()[-3:]]
        r["error"] = f"exit {rc}: " + " / ".join(tail)
    return r


def passage_cmd(task, binary, o):
    if task == "febrl3":
        return [binary, "match", "dedupe", d("febrl3.csv"), "--out", o("clusters.csv"), "--pairs", o("pairs.csv")] + FEBRL_MAP
    if task == "febrl4":
        return [binary, "match", "link", d("febrl4a.csv"), d("febrl4b.csv"), "--out", o("pairs.csv")] + FEBRL_MAP
    if task == "synthetic":
        return [binary, "match", "dedupe", d("synthetic.csv"), "--out", o("clusters.csv"), "--pairs", o("pairs.csv")]
    if task == "screening":
        return [binary, "match", "screen", "--watchlist", d("watchlist.csv"), "--queries", d("queries.csv"),
                "--out", o("hits.csv")]
    return [binary, "match", "dedupe", d("scale_1m.csv"), "--out", o("clusters.csv")]


def anchor_cmd(task, o):
    """(tool name, command) of the task's anchor, or None."""
    sp = [PY, os.path.join(HERE, "splink_run.py")]
    tail = ["--timing", o("timing.json")]
    if task == "febrl3":
        return "splink", sp + ["febrl3", d("febrl3.csv"), "--pairs", o("pairs.csv"), "--clusters", o("clusters.csv")] + tail
    if task == "febrl4":
        return "splink", sp + ["febrl4", d("febrl4a.csv"), d("febrl4b.csv"), "--pairs", o("pairs.csv")] + tail
    if task in ("synthetic", "scale"):
        src = "synthetic.csv" if task == "synthetic" else "scale_1m.csv"
        return "splink", sp + ["persons", d(src), "--pairs", o("pairs.csv"), "--clusters", o("clusters.csv")] + tail
    return "rapidfuzz", [PY, os.path.join(HERE, "rapidfuzz_screen.py"), d("watchlist.csv"), d("queries.csv"),
                         "--out", o("hits.csv")] + tail


def score(task, o):
    """Metrics from whatever output files the run left."""
    m = {}
    truth = {"febrl3": "febrl3_truth.csv", "febrl4": "febrl4_truth.csv", "synthetic": "synthetic_truth.csv",
             "scale": "scale_1m_truth.csv"}.get(task)
    if task == "screening":  # 10,000 queries x 100,000 entries
        if os.path.exists(o("hits.csv")):
            m["screen"] = evaluate.screen(o("hits.csv"), d("screen_truth.csv"), d("queries.csv"))
        return m
    if os.path.exists(o("pairs.csv")) and task != "scale":
        m["pairs"] = evaluate.pairwise(o("pairs.csv"), d(truth), threshold=0.5)
    if os.path.exists(o("clusters.csv")):
        m["clusters"] = evaluate.clusters(o("clusters.csv"), d(truth))
    return m


def run_tool(task, tool, cmd, outdir, repeat, timeout):
    os.makedirs(outdir, exist_ok=True)
    o = lambda name: os.path.join(outdir, name)  # noqa: E731
    for f in os.listdir(outdir):  # never score a previous run's files
        os.remove(o(f))
    runs = []
    for i in range(repeat):
        r = run(cmd, o(f"run{i + 1}"), timeout)
        if os.path.exists(o("timing.json")):
            with open(o("timing.json")) as f:
                r.update({k: v for k, v in json.load(f).items() if k in ("import_s", "run_s", "stages")})
        runs.append(r)
        status = r.get("error") or f"{r['wall_s']:.2f} s wall"
        print(f"  {task:10} {tool:9} run {i + 1}: {status}", flush=True)
        if r["rc"]:
            break
    ok = [r for r in runs if not r["rc"]]
    row = {"task": task, "tool": tool, "runs": runs}
    if len(ok) == len(runs):
        row["time_s"] = statistics.median(r.get("run_s", r["wall_s"]) for r in ok)
        row["wall_s"] = statistics.median(r["wall_s"] for r in ok)
        row["import_s"] = statistics.median(r["import_s"] for r in ok) if "import_s" in ok[0] else None
        row["rss_mb"] = None if ok[0]["rss_mb"] is None else max(r["rss_mb"] for r in ok)
        row["load"] = max(r["load"] for r in ok)
        try:
            row["metrics"] = score(task, o)
        except SystemExit as e:  # an output file without the expected columns
            row["error"] = str(e)
    else:
        row["error"] = runs[-1]["error"]
    return row


def fmt(v, p=3):
    return "" if v is None else f"{v:.{p}f}" if isinstance(v, float) else str(v)


def failed_row(r, ncols):
    cells = [r["task"], r["tool"], "**failed**: " + r["error"].replace("|", "/")] + [""] * (ncols - 3)
    return "| " + " | ".join(cells) + " |"


def tables(rows):
    out = []
    link = [r for r in rows if r["task"] != "screening"]
    scr = [r for r in rows if r["task"] == "screening"]
    if link:
        out += ["| task | tool | time s | wall s | import s | peak RSS MB | load | pairwise P | R | F1 | cluster P | R | F1 |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in link:
            if "error" in r:
                out.append(failed_row(r, 13))
                continue
            pm, cm = r["metrics"].get("pairs", {}), r["metrics"].get("clusters", {})
            out.append(f"| {r['task']} | {r['tool']} | {fmt(r['time_s'], 2)} | {fmt(r['wall_s'], 2)} | "
                       f"{fmt(r['import_s'], 2)} | {fmt(r['rss_mb'], 0)} | {fmt(r['load'], 2)} | "
                       + " | ".join(fmt(pm.get(k), 4) for k in ("precision", "recall", "f1")) + " | "
                       + " | ".join(fmt(cm.get(k), 4) for k in ("precision", "recall", "f1")) + " |")
        out.append("")
    if scr:
        out += ["| task | tool | time s | wall s | import s | peak RSS MB | load | recall | top-1 recall | "
                "alerts / clean query | hits / variant |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in scr:
            if "error" in r:
                out.append(failed_row(r, 11))
                continue
            s = r["metrics"].get("screen", {})
            out.append(f"| {r['task']} | {r['tool']} | {fmt(r['time_s'], 2)} | {fmt(r['wall_s'], 2)} | "
                       f"{fmt(r['import_s'], 2)} | {fmt(r['rss_mb'], 0)} | {fmt(r['load'], 2)} | "
                       f"{fmt(s.get('recall'))} | {fmt(s.get('top1_recall'))} | {fmt(s.get('alerts_per_clean'), 2)} | "
                       f"{fmt(s.get('hits_per_variant'), 2)} |")
        kinds = sorted({k for r in scr for k in r.get("metrics", {}).get("screen", {}).get("recall_by_kind", {})})
        if kinds:
            out += ["", "Screening recall by perturbation (first change applied; script = Arabic <-> Latin):", "",
                    "| tool | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
            for r in scr:
                k = r.get("metrics", {}).get("screen", {}).get("recall_by_kind", {})
                if k:
                    out.append(f"| {r['tool']} | " + " | ".join(fmt(k.get(x)) for x in kinds) + " |")
        out.append("")
    out += ["time s = the tool's own work time (for the Python anchors: from after the imports to the "
            "last output file; import s is the import); wall s = the whole process; peak RSS of that process; "
            "load = 1-minute load average when it started. Pairwise at probability >= 0.5; Splink clusters "
            "at 0.9, Passage clusters as the CLI writes them."]
    return "\n".join(out)


def header(binary):
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    try:
        pv = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pv = "not found or not answering --version"
    vers = ", ".join(f"{p} {version(p)}" for p in ("splink", "duckdb", "rapidfuzz", "pandas"))
    return (f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores ({cpu}) · Python {platform.python_version()}"
            f" · {vers} · passage: {pv or '?'} ({binary})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--tools", default="passage,splink,rapidfuzz", help="which tools to run (anchors by name)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the median time is reported")
    ap.add_argument("--timeout", type=float, help="seconds after which a run is stopped and marked failed")
    ap.add_argument("--with-splink-1m", action="store_true", help="also run Splink on the 1M-record set")
    ap.add_argument("--passage-bin", default=os.environ.get("PASSAGE_BIN",
                                                            os.path.join(ROOT, "target", "release", "passage")))
    a = ap.parse_args()
    tasks = [t for t in a.tasks.split(",") if t]
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        ap.error(f"unknown task(s) {', '.join(bad)}; known: {', '.join(TASKS)}")
    tools = set(a.tools.split(","))
    if not os.path.exists(TIME):
        print(f"warning: {TIME} missing (Debian package `time`): peak RSS will not be reported", file=sys.stderr)
    parts = ",".join(dict.fromkeys(DATA_PART[t] for t in tasks))
    subprocess.run([PY, os.path.join(HERE, "make_data.py"), "--only", parts], check=True)
    head = header(a.passage_bin)
    print(head, flush=True)
    rows = []
    for task in tasks:
        print(f"{task} (load {loadavg():.2f})", flush=True)
        tool, cmd = anchor_cmd(task, lambda n, t=task: os.path.join(OUT, t, "anchor", n))
        if tool in tools and (task != "scale" or a.with_splink_1m):
            rows.append(run_tool(task, tool, cmd, os.path.join(OUT, task, "anchor"), a.repeat, a.timeout))
        if "passage" in tools:
            outdir = os.path.join(OUT, task, "passage")
            if not (os.path.isfile(a.passage_bin) and os.access(a.passage_bin, os.X_OK)):
                rows.append({"task": task, "tool": "passage", "error": f"binary not found: {a.passage_bin}"})
                print(f"  {task:10} passage   missing binary {a.passage_bin}", flush=True)
                continue
            cmd = passage_cmd(task, a.passage_bin, lambda n: os.path.join(outdir, n))
            rows.append(run_tool(task, "passage", cmd, outdir, a.repeat, a.timeout))
    md = f"{head}\n\n{tables(rows)}\n"
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print("\n" + md)
    failed = [r for r in rows if "error" in r]
    if failed:
        for r in failed:
            print(f"FAILED {r['task']} / {r['tool']}: {r['error']}", file=sys.stderr)
        if any("binary not found" in r["error"] for r in failed):
            print(f"Passage binary missing: {a.passage_bin} (build it with `cargo build --release`, "
                  "or point PASSAGE_BIN / --passage-bin at it)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
