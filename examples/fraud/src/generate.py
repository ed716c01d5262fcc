#!/usr/bin/env python3
"""Generate a synthetic card-transactions dataset for the fraud example.

Writes CSV parts part-00000.csv ... under --out with the header

    transaction_id,card_id,amount,merchant_category,hour,is_fraud

Legitimate spending follows each card's habits (a typical amount, a few
favourite merchant categories, daytime hours). About 2.5% of rows are fraud,
made by compromised cards in bursts of several transactions, in three
patterns: cash-out (large amounts in electronics, jewelry, gift cards,
travel, digital goods, mostly at night), card testing (tiny amounts online)
and blend-in (ordinary-looking purchases, somewhat larger). About 1.2% of
merchant categories are missing. The same arguments give the same bytes.

    python3 src/generate.py --rows 20000 --seed 7 --out data/transactions
"""

import argparse
import math
import os
import random
import sys

CATEGORIES = {
    # name: (weight among everyday purchases, amount multiplier)
    "grocery": (0.22, 1.0),
    "restaurants": (0.16, 0.8),
    "gas": (0.10, 1.1),
    "retail": (0.12, 1.5),
    "online_retail": (0.12, 1.2),
    "entertainment": (0.07, 1.0),
    "health": (0.06, 1.3),
    "travel": (0.04, 6.0),
    "electronics": (0.04, 5.0),
    "digital_goods": (0.04, 0.4),
    "gift_cards": (0.02, 1.5),
    "jewelry": (0.01, 8.0),
}
CASH_OUT = {"electronics": 0.35, "jewelry": 0.2, "gift_cards": 0.2, "travel": 0.1, "digital_goods": 0.15}
TESTING = {"digital_goods": 0.5, "online_retail": 0.3, "gift_cards": 0.2}

# Relative likelihood of a legitimate purchase by hour of day.
DAY_HOURS = [0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.3, 2.6,
             3.0, 2.8, 2.6, 2.5, 2.6, 2.9, 3.0, 2.7, 2.2, 1.6, 1.0, 0.6]

FRAUD_RATE = 0.025
MISSING_CATEGORY = 0.012
HEADER = ["transaction_id", "card_id", "amount", "merchant_category", "hour", "is_fraud"]


def pick(rng, weights):
    """Returns a key of weights, chosen with probability proportional to its value."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def make_cards(rng, n):
    cards = []
    ids = set()
    names = list(CATEGORIES)
    for _ in range(n):
        while True:
            cid = "c%06x" % rng.getrandbits(24)
            if cid not in ids:
                ids.add(cid)
                break
        favourites = rng.sample(names[:7], 3)
        cards.append({
            "id": cid,
            "activity": rng.lognormvariate(0, 0.6),
            "median": rng.lognormvariate(math.log(35), 0.5),
            "favourites": favourites,
        })
    return cards


def legit(rng, card):
    if rng.random() < 0.8:
        cat = rng.choice(card["favourites"])
    else:
        cat = pick(rng, {k: v[0] for k, v in CATEGORIES.items()})
    amount = card["median"] * CATEGORIES[cat][1] * rng.lognormvariate(0, 0.7)
    hour = rng.choices(range(24), weights=DAY_HOURS)[0]
    return amount, cat, hour


def fraud_burst(rng, card, size):
    pattern = rng.choices(["cash-out", "testing", "blend"], weights=[0.6, 0.25, 0.15])[0]
    night = rng.random() < 0.7
    base_hour = rng.randrange(0, 5) if night else rng.randrange(24)
    out = []
    for _ in range(size):
        hour = (base_hour + rng.choice([0, 0, 0, 1, 1, 2])) % 24
        if pattern == "cash-out":
            cat = pick(rng, CASH_OUT)
            amount = rng.lognormvariate(math.log(450), 0.6)
        elif pattern == "testing":
            cat = pick(rng, TESTING)
            amount = rng.uniform(0.5, 6.0)
        else:
            amount, cat, hour = legit(rng, card)
            amount *= 2.0
        out.append((amount, cat, hour))
    return out


def generate(rows, seed):
    rng = random.Random(seed)
    n_cards = max(20, rows // 25)
    cards = make_cards(rng, n_cards)
    n_fraud = round(rows * FRAUD_RATE)
    txs = []  # (card index, amount, category, hour, is_fraud)
    left = n_fraud
    while left > 0:
        ci = rng.randrange(n_cards)
        size = min(left, rng.randint(4, 16))
        for amount, cat, hour in fraud_burst(rng, cards[ci], size):
            txs.append((ci, amount, cat, hour, 1))
        left -= size
    weights = [c["activity"] for c in cards]
    for ci in rng.choices(range(n_cards), weights=weights, k=rows - n_fraud):
        amount, cat, hour = legit(rng, cards[ci])
        txs.append((ci, amount, cat, hour, 0))
    rng.shuffle(txs)
    out = []
    for i, (ci, amount, cat, hour, is_fraud) in enumerate(txs):
        if rng.random() < MISSING_CATEGORY:
            cat = ""
        amount = max(0.01, round(amount, 2))
        out.append(("t%08d" % (i + 1), cards[ci]["id"], "%.2f" % amount, cat, str(hour), str(is_fraud)))
    return out


def write_parts(rows, out, parts):
    os.makedirs(out, exist_ok=True)
    per = math.ceil(len(rows) / parts)
    names = []
    for p in range(parts):
        name = "part-%05d.csv" % p
        path = os.path.join(out, name)
        tmp = path + ".tmp"
        with open(tmp, "w", newline="") as f:
            f.write(",".join(HEADER) + "\n")
            for r in rows[p * per:(p + 1) * per]:
                f.write(",".join(r) + "\n")
        os.replace(tmp, path)
        names.append(name)
    return names


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000, help="number of transactions (default 20000)")
    ap.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    ap.add_argument("--parts", type=int, default=4, help="number of CSV files (default 4)")
    ap.add_argument("--out", required=True, help="folder to write the CSV parts into")
    args = ap.parse_args(argv)
    if args.rows < 100:
        ap.error("--rows must be at least 100")
    if args.parts < 1 or args.parts > args.rows:
        ap.error("--parts must be between 1 and --rows")
    rows = generate(args.rows, args.seed)
    names = write_parts(rows, args.out, args.parts)
    fraud = sum(r[5] == "1" for r in rows)
    missing = sum(r[3] == "" for r in rows)
    print("generate: %d transactions, %d fraud (%.2f%%), %d without category, %d cards"
          % (len(rows), fraud, 100.0 * fraud / len(rows), missing, len({r[1] for r in rows})))
    print("generate: wrote %s in %s" % (", ".join(names), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
