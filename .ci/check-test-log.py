#!/usr/bin/env python3
"""Search the log of a whole test run (PASSAGE_TEST_LOG=1 cargo test ... 2>LOG) for personal
values of the generated demo and test data: the fictional names the generator draws from
(crates/xlsform/src/fill.rs), the fixed values the tests register, and document numbers.
Fails if any appears, and if the log is too thin to mean anything (logging was off)."""

import pathlib, re, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Names that are also English words are only searched for as generated ("Demo Comfort").
ENGLISH = {"Comfort", "Patience", "Prince", "Blessing", "Freeman", "Cooper", "Johnson", "Doe",
           "Toe", "Ruth", "Esther", "Abraham", "Emmanuel", "Josephine", "Yah", "Kou", "Saye", "Dahn"}
# Values the tests themselves register (crates/*/tests/support and the e2e scripts).
FIXED = ["Kollie-example", "Recruited at Ganta market", "Fictional statement",
         "Fictional note about the first interview", "Shelter needs to confirm who arrives tonight"]
MIN_REQUEST_LINES = 200


def names(const):
    source = (ROOT / "crates/xlsform/src/fill.rs").read_text()
    block = re.search(rf"pub const {const}: \[&str; \d+\] = \[(.*?)\];", source, re.S)
    return re.findall(r'"([^"]+)"', block.group(1))


def main(path):
    log = pathlib.Path(path).read_text(errors="replace")
    pool = names("GIVEN") + names("FAMILY")
    assert len(pool) >= 90, "the name pools were not found in fill.rs"
    patterns = [re.compile(rf"\bDemo {re.escape(n)}\b") for n in pool]
    patterns += [re.compile(rf"\b{re.escape(n)}\b") for n in pool if n not in ENGLISH]
    patterns += [re.compile(re.escape(v)) for v in FIXED]
    hits = []
    for number, line in enumerate(log.splitlines(), 1):
        for p in patterns:
            if p.search(line):
                hits.append(f"  line {number}: {p.pattern!r}: {line[:200]}")
                break
    requests = log.count("finished processing request")
    print(f"test log {path}: {len(log.splitlines())} lines, {requests} logged requests, "
          f"{len(patterns)} personal values searched for, {len(hits)} found")
    if requests < MIN_REQUEST_LINES:
        sys.exit(f"the log holds only {requests} requests: was PASSAGE_TEST_LOG set?")
    if hits:
        print("\n".join(hits[:50]))
        sys.exit("personal values appear in the test log")


if __name__ == "__main__":
    main(sys.argv[1])
