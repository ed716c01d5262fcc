#!/usr/bin/env python3
"""Build model features from the fraud example's transactions.

Reads every CSV file of --in (a folder, or one file) and writes to --out:

    train.csv, test.csv   transaction_id, the features, is_fraud
    features.json         the feature names, categories and split

Features: log amount, small/large amount flags, the amount against the
card's usual amount, hour as sine and cosine, a night flag, a one-hot
merchant category (with "missing"), and per-card counts (transactions,
distinct categories, share at night, share in cash-out categories). Card
aggregates use no labels. The split is by a hash of transaction_id: 80%
train, 20% test, the same on every machine.

    python3 src/features.py --in data/transactions --out features
"""

import argparse
import csv
import glob
import hashlib
import json
import math
import os
import sys

REQUIRED = ["transaction_id", "card_id", "amount", "merchant_category", "hour", "is_fraud"]
RISKY = {"electronics", "jewelry", "gift_cards", "travel", "digital_goods"}
TEST_PERCENT = 20


def fail(msg):
    print("features.py: " + msg, file=sys.stderr)
    sys.exit(1)


def input_files(path):
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        fail("%s: no such file or folder" % path)
    files = sorted(glob.glob(os.path.join(path, "**", "*.csv"), recursive=True))
    if not files:
        fail("%s: no .csv files" % path)
    return files


def read_rows(files):
    rows = []
    for path in files:
        with open(path, newline="") as f:
            r = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (r.fieldnames or [])]
            if missing:
                fail("%s: missing columns %s" % (path, ", ".join(missing)))
            for line, rec in enumerate(r, start=2):
                try:
                    hour = int(rec["hour"]) if rec["hour"] != "" else None
                    rows.append({
                        "id": rec["transaction_id"],
                        "card": rec["card_id"],
                        "amount": float(rec["amount"]),
                        "category": rec["merchant_category"] or "missing",
                        "hour": hour,
                        "label": int(rec["is_fraud"]),
                    })
                except ValueError as e:
                    fail("%s:%d: %s" % (path, line, e))
    return rows


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def card_stats(rows):
    by_card = {}
    for r in rows:
        by_card.setdefault(r["card"], []).append(r)
    stats = {}
    for card, txs in by_card.items():
        n = len(txs)
        stats[card] = {
            "log_count": math.log(n),
            "median_log_amount": median([math.log1p(t["amount"]) for t in txs]),
            "distinct_categories": len({t["category"] for t in txs}) / n,
            "night_share": sum(1 for t in txs if t["hour"] is not None and t["hour"] < 6) / n,
            "risky_share": sum(1 for t in txs if t["category"] in RISKY) / n,
        }
    return stats


def is_test(transaction_id):
    h = hashlib.sha256(transaction_id.encode()).hexdigest()
    return int(h[:8], 16) % 100 < TEST_PERCENT


def build(rows):
    categories = sorted({r["category"] for r in rows} | {"missing"})
    cards = card_stats(rows)
    names = ["log_amount", "amount_small", "amount_large", "amount_vs_card",
             "hour_sin", "hour_cos", "night", "hour_missing",
             "card_log_count", "card_distinct_categories", "card_night_share", "card_risky_share"]
    names += ["category_" + c for c in categories]
    out = []
    for r in rows:
        la = math.log1p(r["amount"])
        c = cards[r["card"]]
        if r["hour"] is None:
            hs, hc, night, hm = 0.0, 0.0, 0.0, 1.0
        else:
            a = 2 * math.pi * r["hour"] / 24
            hs, hc, night, hm = math.sin(a), math.cos(a), float(r["hour"] < 6), 0.0
        x = [la, float(r["amount"] < 5), float(r["amount"] > 250), la - c["median_log_amount"],
             hs, hc, night, hm,
             c["log_count"], c["distinct_categories"], c["night_share"], c["risky_share"]]
        x += [float(r["category"] == cat) for cat in categories]
        out.append((r["id"], x, r["label"]))
    return names, categories, out


def write_csv(path, names, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["transaction_id"] + names + ["is_fraud"])
        for tid, x, y in rows:
            w.writerow([tid] + [("%.6g" % v) for v in x] + [y])
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--in", dest="inp", required=True, help="transactions: a folder of CSV files or one file")
    ap.add_argument("--out", required=True, help="folder to write train.csv, test.csv and features.json into")
    args = ap.parse_args(argv)
    files = input_files(args.inp)
    rows = read_rows(files)
    if not rows:
        fail("%s: no rows" % args.inp)
    print("features: read %d transactions from %d files" % (len(rows), len(files)))
    names, categories, data = build(rows)
    train = [d for d in data if not is_test(d[0])]
    test = [d for d in data if is_test(d[0])]
    os.makedirs(args.out, exist_ok=True)
    write_csv(os.path.join(args.out, "train.csv"), names, train)
    write_csv(os.path.join(args.out, "test.csv"), names, test)
    meta = {
        "features": names,
        "label": "is_fraud",
        "id": "transaction_id",
        "categories": categories,
        "split": {"method": "sha256(transaction_id) mod 100 < %d is test" % TEST_PERCENT,
                  "train": len(train), "test": len(test)},
    }
    tmp = os.path.join(args.out, "features.json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(args.out, "features.json"))
    print("features: %d features; train %d rows (%d fraud), test %d rows (%d fraud)" % (
        len(names), len(train), sum(d[2] for d in train), len(test), sum(d[2] for d in test)))
    print("features: wrote train.csv, test.csv, features.json in %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
