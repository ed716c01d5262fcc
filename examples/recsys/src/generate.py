#!/usr/bin/env python3
"""Generate synthetic shop data for the recommendations example.

    python3 src/generate.py events --users 400 --items 250 --seed 11 --out data/events
    python3 src/generate.py catalog --items 250 --seed 11 --out data/catalog

events writes events.csv (user_id,item_id,event,ts): views, add-to-carts
and purchases over 60 days from 2026-10-01, timestamps RFC 3339 in UTC.
Items belong to eight categories; each user has a favourite category and a
second one, and most of what they look at comes from those, which is what
a matrix factorisation can learn. Popular items are popular everywhere, so
a most-popular baseline is not useless. catalog writes catalog.csv
(item_id,category,price). Both draw the items' categories from the seed
alone, so the two files agree; the same arguments give the same bytes.
"""

import argparse
import datetime
import math
import os
import random
import sys

CATEGORIES = ["books", "music", "garden", "kitchen", "outdoor", "toys", "beauty", "games"]
PRICE = {"books": 15, "music": 12, "garden": 40, "kitchen": 35, "outdoor": 80, "toys": 25, "beauty": 20, "games": 45}
START = datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc)
DAYS = 60
EVENTS_PER_USER = 150


def item_id(i):
    return "i%04d" % (i + 1)


def user_id(u):
    return "u%04d" % (u + 1)


def items(n, seed):
    """Returns each item's category index and popularity, from the seed alone."""
    rng = random.Random("items-%d" % seed)
    cats = [i % len(CATEGORIES) for i in range(n)]
    rng.shuffle(cats)
    pop = [rng.paretovariate(1.5) for _ in range(n)]
    return cats, pop


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    os.replace(tmp, path)


def catalog(args):
    cats, _ = items(args.items, args.seed)
    rng = random.Random("prices-%d" % args.seed)
    rows = []
    for i, c in enumerate(cats):
        name = CATEGORIES[c]
        price = PRICE[name] * rng.lognormvariate(0, 0.5)
        rows.append((item_id(i), name, "%.2f" % price))
    path = os.path.join(args.out, "catalog.csv")
    write_csv(path, ["item_id", "category", "price"], rows)
    print("generate: %d items in %d categories; wrote %s" % (len(rows), len(CATEGORIES), path))


def events(args):
    cats, pop = items(args.items, args.seed)
    rng = random.Random("events-%d" % args.seed)
    by_cat = [[i for i in range(args.items) if cats[i] == c] for c in range(len(CATEGORIES))]
    rows = []
    for u in range(args.users):
        first = rng.randrange(len(CATEGORIES))
        second = (first + rng.randrange(1, len(CATEGORIES))) % len(CATEGORIES)
        # A user's own taste within a category: some items they like more.
        taste = {}
        n = max(10, int(rng.gauss(EVENTS_PER_USER, 30)))
        t0 = rng.uniform(0, DAYS * 0.2)
        times = sorted(rng.uniform(t0, DAYS) for _ in range(n))
        for t in times:
            r = rng.random()
            if r < 0.65:
                pool = by_cat[first]
            elif r < 0.85:
                pool = by_cat[second]
            else:
                pool = range(args.items)
            weights = []
            for i in pool:
                if i not in taste:
                    taste[i] = rng.lognormvariate(0, 1.0)
                weights.append(pop[i] * taste[i])
            i = rng.choices(pool, weights=weights)[0]
            liked = cats[i] == first
            e = rng.random()
            if e < (0.10 if liked else 0.04):
                event = "purchase"
            elif e < (0.30 if liked else 0.15):
                event = "cart"
            else:
                event = "view"
            ts = START + datetime.timedelta(days=t)
            rows.append((user_id(u), item_id(i), event, ts.strftime("%Y-%m-%dT%H:%M:%SZ")))
    path = os.path.join(args.out, "events.csv")
    write_csv(path, ["user_id", "item_id", "event", "ts"], rows)
    counts = {k: sum(1 for r in rows if r[2] == k) for k in ("view", "cart", "purchase")}
    print("generate: %d events (%d views, %d carts, %d purchases) by %d users on %d items; wrote %s" % (
        len(rows), counts["view"], counts["cart"], counts["purchase"], args.users, args.items, path))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    ev = sub.add_parser("events", help="write events.csv")
    ev.add_argument("--users", type=int, default=400)
    ev.add_argument("--items", type=int, default=250)
    ev.add_argument("--seed", type=int, default=11)
    ev.add_argument("--out", required=True, help="folder to write events.csv into")
    ca = sub.add_parser("catalog", help="write catalog.csv")
    ca.add_argument("--items", type=int, default=250)
    ca.add_argument("--seed", type=int, default=11)
    ca.add_argument("--out", required=True, help="folder to write catalog.csv into")
    args = ap.parse_args(argv)
    if args.items < len(CATEGORIES):
        ap.error("--items must be at least %d" % len(CATEGORIES))
    if args.what == "events":
        if args.users < 1:
            ap.error("--users must be at least 1")
        events(args)
    else:
        catalog(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
