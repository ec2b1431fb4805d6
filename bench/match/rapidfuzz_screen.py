#!/usr/bin/env python3
"""rapidfuzz anchor for screening: brute force token_sort_ratio >= 85 of every query against
every watchlist name (primary name and aliases), process.cdist on 2 threads.

  rapidfuzz_screen.py WATCHLIST.csv QUERIES.csv --out HITS.csv [--threshold 85] [--timing T.json]

Normalisation as in the record-linkage note: anyascii -> lowercase -> non-alphanumerics to space.
Writes the Passage format `query_id,entry_id,score,explanation`, one row per (query, entry)
with the entry's best-scoring name. run_s in the timing excludes the Python imports."""

import time

T0 = time.perf_counter()
import argparse, csv, json, re  # noqa: E402

import numpy as np  # noqa: E402
from anyascii import anyascii  # noqa: E402
from rapidfuzz import fuzz, process  # noqa: E402

T_IMPORT = time.perf_counter() - T0
NON_ALNUM = re.compile(r"[^a-z0-9]+")


def norm(s):
    return NON_ALNUM.sub(" ", anyascii(s).lower()).strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("watchlist")
    ap.add_argument("queries")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threshold", type=int, default=85)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=500, help="queries per cdist call (bounds the score matrix)")
    ap.add_argument("--timing")
    a = ap.parse_args()
    t0 = time.perf_counter()
    names, owner = [], []
    with open(a.watchlist, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            full = row.get("full_name") or f"{row.get('given_name', '')} {row.get('surname', '')}"
            for n in [full] + [x for x in (row.get("aliases") or "").split(";") if x.strip()]:
                names.append(norm(n))
                owner.append(row["id"])
    with open(a.queries, newline="", encoding="utf-8") as f:
        qrows = list(csv.DictReader(f))
    queries = [norm(r.get("full_name") or f"{r.get('given_name', '')} {r.get('surname', '')}") for r in qrows]
    t_load = time.perf_counter() - t0
    owner = np.array(owner)
    best = {}  # (query index, entry id) -> best score
    t1 = time.perf_counter()
    for start in range(0, len(queries), a.chunk):
        m = process.cdist(queries[start:start + a.chunk], names, scorer=fuzz.token_sort_ratio, processor=None,
                          score_cutoff=a.threshold, dtype=np.uint8, workers=a.workers)
        qi, ni = np.nonzero(m)
        for q, e, s in zip((qi + start).tolist(), owner[ni].tolist(), m[qi, ni].tolist()):
            if s > best.get((q, e), -1):
                best[(q, e)] = s
    t_score = time.perf_counter() - t1
    with open(a.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["query_id", "entry_id", "score", "explanation"])
        for (q, e), s in sorted(best.items()):
            w.writerow([qrows[q]["id"], e, s, "token_sort_ratio"])
    run = time.perf_counter() - t0
    pairs = len(queries) * len(names)
    info = {"import_s": round(T_IMPORT, 3), "run_s": round(run, 3),
            "stages": {"load": round(t_load, 3), "score": round(t_score, 3)},
            "pairs": pairs, "pairs_per_s": round(pairs / t_score), "hits": len(best)}
    print(json.dumps(info))
    if a.timing:
        with open(a.timing, "w") as f:
            json.dump(info, f)


if __name__ == "__main__":
    main()
