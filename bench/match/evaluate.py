#!/usr/bin/env python3
"""One evaluator for every tool, so that Passage and the anchors are scored by the same code.

  evaluate.py pairs PAIRS.csv TRUTH.csv [--threshold 0.5]   pairwise P/R/F1 (dedupe or link)
  evaluate.py clusters CLUSTERS.csv TRUTH.csv                cluster-level P/R/F1
  evaluate.py screen HITS.csv TRUTH.csv QUERIES.csv          recall of true variants, alerts per clean query

Inputs are the Passage CLI formats: pairs `left,right,probability,...`, clusters `id,cluster`,
hits `query_id,entry_id,score,...`. Truth: `id,cluster[,side]` (side = left/right for a link
task) or, for screening, `query_id,entry_id,perturbation`. Ids are compared as strings."""

import argparse, json, sys

import pandas as pd


def read(path, cols):
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise SystemExit(f"{path}: missing column(s) {', '.join(missing)} (has {', '.join(df.columns)})")
    return df


def n_pairs(sizes):
    return int((sizes * (sizes - 1) // 2).sum())


def prf(tp, predicted, true):
    p = tp / predicted if predicted else 0.0
    r = tp / true if true else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def pairwise(pairs_csv, truth_csv, threshold=0.5):
    """Pairs at or above `threshold`; a pair is right when both ids are in the same true cluster."""
    truth = read(truth_csv, ["id", "cluster"])
    cluster = dict(zip(truth.id, truth.cluster))
    p = read(pairs_csv, ["left", "right", "probability"])
    p = p[pd.to_numeric(p.probability) >= threshold]
    if "side" in truth:  # link: count only left x right pairs, whichever way round they were written
        left = set(truth.id[truth.side == "left"])
        swap = ~p.left.isin(left)
        p = p.assign(left=p.left.where(~swap, p.right), right=p.right.where(~swap, p.left))
        by = truth.groupby(["cluster", "side"]).size().unstack(fill_value=0)
        n_true = int((by.get("left", 0) * by.get("right", 0)).sum())
    else:  # dedupe: a pair is unordered
        a, b = p.left.where(p.left < p.right, p.right), p.right.where(p.left < p.right, p.left)
        p = p.assign(left=a, right=b)
        n_true = n_pairs(truth.groupby("cluster").size())
    p = p[p.left != p.right].drop_duplicates(["left", "right"])
    tp = int((p.left.map(cluster) == p.right.map(cluster)).sum())  # unknown ids map to NaN: never equal
    return {"pairs": len(p), "true_pairs": n_true, "tp": tp, **prf(tp, len(p), n_true)}


def clusters(clusters_csv, truth_csv):
    """Pair counts from the contingency of predicted and true clusters (no pair enumeration,
    so it also runs on 1M records). Records absent from the clusters file are singletons."""
    truth = read(truth_csv, ["id", "cluster"])
    pred = read(clusters_csv, ["id", "cluster"])[["id", "cluster"]].drop_duplicates("id")
    m = truth[["id", "cluster"]].merge(pred, on="id", how="left", suffixes=("_true", "_pred"))
    m["cluster_pred"] = m.cluster_pred.fillna("").where(m.cluster_pred.fillna("") != "", "_single_" + m.id)
    tp = n_pairs(m.groupby(["cluster_true", "cluster_pred"]).size())
    predicted, true = n_pairs(m.groupby("cluster_pred").size()), n_pairs(m.groupby("cluster_true").size())
    unknown = int((~pred.id.isin(truth.id)).sum())
    return {"clusters": int(m.cluster_pred.nunique()), "pred_pairs": predicted, "true_pairs": true, "tp": tp,
            "unknown_ids": unknown, **prf(tp, predicted, true)}


def screen(hits_csv, truth_csv, queries_csv):
    """Recall: a variant query counts as found when any of its hits is the true entry. Top-1: the
    true entry is among the query's highest-scoring hits (ties count, so the figure does not
    depend on output order). Alerts per clean query: hits for the queries that are not on the
    list (fresh names), divided by their number."""
    h = read(hits_csv, ["query_id", "entry_id", "score"])
    h = h.assign(score=pd.to_numeric(h.score))
    t = read(truth_csv, ["query_id", "entry_id"])
    q = read(queries_csv, ["id"])
    found = set(zip(h.query_id, h.entry_id))
    t["hit"] = [(a, b) in found for a, b in zip(t.query_id, t.entry_id)]
    top = h[h.score == h.groupby("query_id").score.transform("max")]
    top = set(zip(top.query_id, top.entry_id))
    t["top1"] = [(a, b) in top for a, b in zip(t.query_id, t.entry_id)]
    listed = set(t.query_id)
    fresh = q.id[~q.id.isin(listed)]
    out = {"recall": float(t.hit.mean()), "top1_recall": float(t.top1.mean()),
           "alerts_per_clean": float(h.query_id.isin(set(fresh)).sum() / max(len(fresh), 1)),
           "hits_per_variant": float(h.query_id.isin(listed).sum() / max(len(t), 1)),
           "hits": len(h), "variants": len(t), "clean": len(fresh)}
    if "perturbation" in t:  # recall by the first perturbation applied (script = Arabic <-> Latin)
        kind = t.perturbation.str.split("+").str[0]
        out["recall_by_kind"] = {k: float(v) for k, v in t.groupby(kind).hit.mean().items()}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["pairs", "clusters", "screen"])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--threshold", type=float, default=0.5)
    a = ap.parse_args()
    if a.mode == "pairs":
        r = pairwise(*a.files[:2], threshold=a.threshold)
    elif a.mode == "clusters":
        r = clusters(*a.files[:2])
    else:
        r = screen(*a.files[:3])
    json.dump(r, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
