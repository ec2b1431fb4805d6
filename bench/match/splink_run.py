#!/usr/bin/env python3
"""Splink 5 (DuckDB) anchor. Writes the Passage CLI formats so that evaluate.py scores both.

  splink_run.py febrl3 INPUT.csv --pairs P.csv --clusters C.csv
  splink_run.py febrl4 LEFT.csv RIGHT.csv --pairs P.csv
  splink_run.py persons INPUT.csv --pairs P.csv --clusters C.csv     (synthetic and 1M sets)

Model: u by random sampling (1e6 pairs), m by EM on two blocking rules, prior from deterministic
rules with an assumed recall, as in the record-linkage note. Pairs are written from match
probability 0.2 up (the evaluator thresholds them); clusters are connected components at
--cluster-threshold (0.9, the note's setting). --timing writes {"import_s", "run_s", stages}:
run_s excludes the Python imports (reported as import_s)."""

import time

T0 = time.perf_counter()
import argparse, json, logging, re  # noqa: E402

import pandas as pd  # noqa: E402
from anyascii import anyascii  # noqa: E402
import splink.comparison_level_library as cll  # noqa: E402
import splink.comparison_library as cl  # noqa: E402
from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: E402

T_IMPORT = time.perf_counter() - T0
STAGES = {}


def stage(name, t):
    STAGES[name] = round(time.perf_counter() - t, 3)
    return time.perf_counter()


def read(path):
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df.apply(lambda c: c.str.strip())
    return df.replace("", None)


# --- FEBRL: the detailed model of Splink's own FEBRL4 example (6 comparisons, 7 blocking rules) --
def febrl_settings(link_type):
    return SettingsCreator(
        unique_id_column_name="rec_id", link_type=link_type,
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"), "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"), block_on("soc_sec_id"), block_on("state", "address_1"),
            block_on("street_number", "address_1"), block_on("postcode")],
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d",
                                     invalid_dates_as_null=True),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True)],
        retain_intermediate_calculation_columns=False)


FEBRL_TRAINING = dict(
    deterministic=[block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], recall=0.8,
    em=[block_on("date_of_birth"), block_on("postcode")])


# --- persons (synthetic / 1M): what a careful Splink user would build for these fields ----------
def clean_name(s):
    # anyascii -> lowercase -> non-alphanumerics to space: the note's normalisation for all tools
    return s.map(lambda v: None if v is None else re.sub(r"[^a-z0-9]+", " ", anyascii(v).lower()).strip() or None)


def prepare_persons(df):
    for c in ["given_name", "middle_name", "surname"]:
        uniq = pd.Series(df[c].dropna().unique())  # few distinct names: clean each once
        df[c] = df[c].map(dict(zip(uniq, clean_name(uniq))))
    d = df.date_of_birth.fillna("")
    iso = d.str.extract(r"^(\d{4})-(\d{2})-(\d{2})$")
    dmy = d.str.extract(r"^(\d{2})/(\d{2})/(\d{4})$")
    ymd = d.str.extract(r"^(\d{4})(\d{2})(\d{2})$")
    y = iso[0].fillna(dmy[2]).fillna(ymd[0]).fillna(d.str.extract(r"^(\d{4})(?:-\d{2})?$")[0])
    m = iso[1].fillna(dmy[1]).fillna(ymd[1])
    dd = iso[2].fillna(dmy[0]).fillna(ymd[2])
    df["dob"] = (y + "-" + m + "-" + dd).where(m.notna(), None)  # full date, else null
    df["dob_year"] = pd.to_numeric(y, errors="coerce")  # year-only / estimated records keep the year
    # phones: digits only, last 9 (drops +231 / 231 / 0 prefixes)
    df["phone"] = df.phone.str.replace(r"\D", "", regex=True).str[-9:].replace("", None)
    df["document_number"] = df.document_number.str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    return df


def persons_settings():
    dob = cl.CustomComparison(output_column_name="dob", comparison_levels=[
        cll.NullLevel("dob_year"),
        cll.ExactMatchLevel("dob"),
        cll.DamerauLevenshteinLevel("dob", 1),
        # day and month swapped
        cll.CustomLevel("substr(dob_l, 6, 2) = substr(dob_r, 9, 2) and substr(dob_l, 9, 2) = substr(dob_r, 6, 2) "
                        "and dob_year_l = dob_year_r", label_for_charts="day/month swapped"),
        cll.ExactMatchLevel("dob_year"),
        cll.AbsoluteDifferenceLevel("dob_year", 2),
        cll.ElseLevel()])
    return SettingsCreator(
        unique_id_column_name="id", link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"), "l.given_name = r.surname and l.surname = r.given_name",
            block_on("surname", "dob_year"), block_on("given_name", "dob_year"), block_on("document_number"),
            block_on("phone"), block_on("substr(surname, 1, 1)", "dob")],
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            dob,
            cl.DamerauLevenshteinAtThresholds("document_number", [1]),
            cl.DamerauLevenshteinAtThresholds("phone", [1]),
            cl.ExactMatch("sex"),
            cl.ExactMatch("nationality").configure(term_frequency_adjustments=True),
            cl.ExactMatch("address").configure(term_frequency_adjustments=True)],
        retain_intermediate_calculation_columns=False)


PERSONS_TRAINING = dict(
    deterministic=[block_on("document_number"), block_on("given_name", "surname", "dob")], recall=0.6,
    em=[block_on("dob"), block_on("given_name", "surname")])


def train(linker, training, u_pairs, n_records):
    t = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(training["deterministic"],
                                                                  recall=training["recall"])
    t = stage("prior", t)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=1)
    t = stage("u", t)
    # on the 1M set an EM rule such as dob alone yields tens of millions of pairs: sample them
    em_max = 2e6 if n_records > 200_000 else None
    for rule in training["em"]:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True, max_pairs=em_max)
    stage("em", t)


def write_pairs(pred, path, id_col, left_ids=None):
    t = time.perf_counter()
    df = pred.as_pandas_dataframe()
    left, right = df[f"{id_col}_l"].astype(str), df[f"{id_col}_r"].astype(str)
    if left_ids is not None:  # link: left = first file
        swap = ~left.isin(left_ids)
        left, right = left.where(~swap, right), right.where(~swap, left)
    out = pd.DataFrame({"left": left, "right": right, "probability": df.match_probability.round(6),
                        "explanation": "match_weight=" + df.match_weight.round(2).astype(str)})
    out.to_csv(path, index=False)
    stage("write_pairs", t)
    return len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=["febrl3", "febrl4", "persons"])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--clusters")
    ap.add_argument("--cluster-threshold", type=float, default=0.9)
    ap.add_argument("--u-pairs", type=float, default=1e6)
    ap.add_argument("--timing")
    a = ap.parse_args()
    logging.getLogger("splink").setLevel(logging.WARNING)
    t0 = t = time.perf_counter()
    db = DuckDBAPI()
    frames = [read(p) for p in a.inputs]
    if a.task == "persons":
        frames = [prepare_persons(frames[0])]
        settings, training = persons_settings(), PERSONS_TRAINING
    else:
        settings, training = febrl_settings("link_only" if a.task == "febrl4" else "dedupe_only"), FEBRL_TRAINING
    n = sum(len(f) for f in frames)
    sdfs = [db.register(f) for f in frames]
    linker = Linker(sdfs if len(sdfs) > 1 else sdfs[0], settings)
    t = stage("load", t)
    train(linker, training, a.u_pairs, n)
    t = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=0.2)
    stage("predict", t)
    id_col = "rec_id" if a.task != "persons" else "id"
    n_pairs = write_pairs(pred, a.pairs, id_col, set(frames[0][id_col]) if a.task == "febrl4" else None)
    if a.clusters:
        t = time.perf_counter()
        c = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, a.cluster_threshold).as_pandas_dataframe()
        c[[id_col, "cluster_id"]].rename(columns={id_col: "id", "cluster_id": "cluster"}).to_csv(
            a.clusters, index=False)
        stage("cluster", t)
    run = time.perf_counter() - t0
    info = {"import_s": round(T_IMPORT, 3), "run_s": round(run, 3), "stages": STAGES, "records": n,
            "pairs_written": n_pairs}
    print(json.dumps(info))
    if a.timing:
        with open(a.timing, "w") as f:
            json.dump(info, f)


if __name__ == "__main__":
    main()
