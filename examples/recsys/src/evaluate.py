#!/usr/bin/env python3
"""Evaluate the recommendations example's model on each user's later items.

Reads the model from --model-dir and train.csv and test.csv from
--interactions. For every user with test items, ranks the items the user
did not touch in training and compares the top 10 with the test items; a
most-popular baseline (items by the number of training users, same
exclusions) is scored the same way. Writes a JSON object to --metrics:

    precision_at_10, recall_at_10, ndcg_at_10                 the model
    popularity_precision_at_10, popularity_recall_at_10,
    popularity_ndcg_at_10                                     the baseline
    lift_precision_at_10                                      model / baseline
    users, test_pairs

    python3 src/evaluate.py --model-dir model --interactions features --metrics evaluation/metrics.json
"""

import argparse
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as mf  # noqa: E402  (load_pairs)

K = 10


def fail(msg):
    print("evaluate.py: " + msg, file=sys.stderr)
    sys.exit(1)


def score_top(ranked, relevant):
    hits = [1 if i in relevant else 0 for i in ranked[:K]]
    precision = sum(hits) / K
    recall = sum(hits) / len(relevant)
    dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
    ideal = sum(1 / math.log2(r + 2) for r in range(min(K, len(relevant))))
    return precision, recall, dcg / ideal


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True, help="folder holding model.json")
    ap.add_argument("--interactions", required=True, help="folder holding train.csv and test.csv")
    ap.add_argument("--metrics", required=True, help="file to write the metrics JSON to")
    args = ap.parse_args(argv)
    path = os.path.join(args.model_dir, "model.json")
    if not os.path.isfile(path):
        fail("%s: no such file (run train.py first)" % path)
    with open(path) as f:
        model = json.load(f)
    items = model["items"]
    U = dict(zip(model["users"], model["user_factors"]))
    Q, bias = model["item_factors"], model["item_bias"]

    train = mf.load_pairs(args.interactions, "train")
    test = mf.load_pairs(args.interactions, "test")
    seen, relevant, users_of = {}, {}, {}
    for u, i, _ in train:
        seen.setdefault(u, set()).add(i)
        users_of[i] = users_of.get(i, 0) + 1
    for u, i, _ in test:
        relevant.setdefault(u, set()).add(i)
    popular = sorted(items, key=lambda i: (-users_of.get(i, 0), i))

    sums = {"m": [0.0, 0.0, 0.0], "p": [0.0, 0.0, 0.0]}
    n = 0
    for u in sorted(relevant):
        if u not in U:
            continue  # no training pairs: no factors
        n += 1
        pu, excl = U[u], seen.get(u, set())
        scores = [(-(bias[x] + mf.dot(pu, Q[x])), items[x]) for x in range(len(items)) if items[x] not in excl]
        ranked = [i for _, i in sorted(scores)]
        baseline = [i for i in popular if i not in excl]
        for key, ranking in (("m", ranked), ("p", baseline)):
            for s, v in enumerate(score_top(ranking, relevant[u])):
                sums[key][s] += v
    if n == 0:
        fail("no test users with training pairs")
    m = [v / n for v in sums["m"]]
    p = [v / n for v in sums["p"]]
    metrics = {
        "precision_at_10": round(m[0], 6),
        "recall_at_10": round(m[1], 6),
        "ndcg_at_10": round(m[2], 6),
        "popularity_precision_at_10": round(p[0], 6),
        "popularity_recall_at_10": round(p[1], 6),
        "popularity_ndcg_at_10": round(p[2], 6),
        "lift_precision_at_10": round(m[0] / p[0], 6) if p[0] else None,
        "users": n,
        "test_pairs": len(test),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.metrics)), exist_ok=True)
    tmp = args.metrics + ".tmp"
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, args.metrics)
    print("evaluate: %d users, %d test pairs" % (n, len(test)))
    print("evaluate: model      precision@10 %.4f recall@10 %.4f ndcg@10 %.4f" % tuple(m))
    print("evaluate: popularity precision@10 %.4f recall@10 %.4f ndcg@10 %.4f" % tuple(p))
    print("evaluate: wrote %s" % args.metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
