#!/usr/bin/env python3
"""Build implicit-feedback interactions for the recommendations example.

Reads events (user_id,item_id,event,ts) from --events and the catalog
(item_id,category,price) from --catalog, each a folder of CSV files or one
file, and writes to --out:

    train.csv, test.csv   user_id,item_id,weight,first_ts,last_ts,category
    interactions.json     event weights, split, counts

Each (user, item) pair becomes one interaction whose weight sums its
events: view 1, cart 3, purchase 5. The split is by time within each user:
the pairs a user first touched last (the latest 20%, at least one) are the
test rows, so the model is asked to predict what each user turns to next.
Events on items missing from the catalog are dropped and counted.

    python3 src/features.py --events data/events --catalog data/catalog --out features
"""

import argparse
import csv
import glob
import json
import os
import sys

WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
TEST_SHARE = 0.2
MIN_TRAIN = 3  # users with fewer train pairs are kept in train only


def fail(msg):
    print("features.py: " + msg, file=sys.stderr)
    sys.exit(1)


def csv_files(path):
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        fail("%s: no such file or folder" % path)
    files = sorted(glob.glob(os.path.join(path, "**", "*.csv"), recursive=True))
    if not files:
        fail("%s: no .csv files" % path)
    return files


def read(path, columns):
    for name in csv_files(path):
        with open(name, newline="") as f:
            r = csv.DictReader(f)
            missing = [c for c in columns if c not in (r.fieldnames or [])]
            if missing:
                fail("%s: missing columns %s" % (name, ", ".join(missing)))
            for line, rec in enumerate(r, start=2):
                yield name, line, rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", required=True, help="events: a folder of CSV files or one file")
    ap.add_argument("--catalog", required=True, help="catalog: a folder of CSV files or one file")
    ap.add_argument("--out", required=True, help="folder to write train.csv, test.csv and interactions.json into")
    args = ap.parse_args(argv)

    category = {}
    for name, line, rec in read(args.catalog, ["item_id", "category", "price"]):
        category[rec["item_id"]] = rec["category"]
    if not category:
        fail("%s: no items" % args.catalog)

    pairs = {}  # (user, item) -> [weight, first ts, last ts]
    events = dropped = 0
    for name, line, rec in read(args.events, ["user_id", "item_id", "event", "ts"]):
        w = WEIGHTS.get(rec["event"])
        if w is None:
            fail("%s:%d: unknown event %r (want view, cart or purchase)" % (name, line, rec["event"]))
        if rec["item_id"] not in category:
            dropped += 1
            continue
        events += 1
        key = (rec["user_id"], rec["item_id"])
        ts = rec["ts"]  # RFC 3339 in UTC: strings order as times
        p = pairs.get(key)
        if p is None:
            pairs[key] = [w, ts, ts]
        else:
            p[0] += w
            p[1] = min(p[1], ts)
            p[2] = max(p[2], ts)
    if not pairs:
        fail("no events")
    print("features: %d events, %d dropped (item not in the catalog), %d user-item pairs" % (events, dropped, len(pairs)))

    by_user = {}
    for (u, i), p in pairs.items():
        by_user.setdefault(u, []).append((p[1], i, p))
    train, test = [], []
    for u in sorted(by_user):
        items = sorted(by_user[u])  # by first touch, then item id
        n_test = max(1, int(round(len(items) * TEST_SHARE)))
        if len(items) - n_test < MIN_TRAIN:
            n_test = 0
        for k, (first, i, p) in enumerate(items):
            row = (u, i, "%g" % p[0], p[1], p[2], category[i])
            (test if k >= len(items) - n_test else train).append(row)

    os.makedirs(args.out, exist_ok=True)
    header = ["user_id", "item_id", "weight", "first_ts", "last_ts", "category"]
    for fname, rows in (("train.csv", train), ("test.csv", test)):
        path = os.path.join(args.out, fname)
        tmp = path + ".tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
        os.replace(tmp, path)
    meta = {
        "event_weights": WEIGHTS,
        "split": "per user, the latest %d%% of pairs by first touch (at least 1) are test" % int(TEST_SHARE * 100),
        "users": len(by_user),
        "items": len(category),
        "train": len(train),
        "test": len(test),
    }
    tmp = os.path.join(args.out, "interactions.json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(args.out, "interactions.json"))
    print("features: %d users, %d items; train %d pairs, test %d pairs" % (len(by_user), len(category), len(train), len(test)))
    print("features: wrote train.csv, test.csv, interactions.json in %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
