#!/usr/bin/env python3
"""Evaluate the fraud example's model on the test rows.

Reads the model from --model-dir and test.csv from --features, and writes a
JSON object of metrics to --metrics:

    auc             area under the ROC curve (rank / Mann-Whitney U, ties averaged)
    precision       at the model's threshold (chosen on the training rows)
    recall          at the same threshold
    f1, accuracy    at the same threshold
    threshold       the threshold used
    log_loss        mean negative log-likelihood
    rows            test rows
    positive_rate   share of fraud among them

    python3 src/evaluate.py --model-dir model --features features --metrics evaluation/metrics.json
"""

import argparse
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as lr  # noqa: E402  (load, sigmoid)


def fail(msg):
    print("evaluate.py: " + msg, file=sys.stderr)
    sys.exit(1)


def auc(scores, ys):
    """AUC as the Mann-Whitney U statistic over average ranks."""
    pairs = sorted(zip(scores, ys))
    ranks = [0.0] * len(pairs)
    i = 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    pos = sum(ys)
    neg = len(ys) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    rank_sum = sum(r for r, (_, y) in zip(ranks, pairs) if y)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True, help="folder holding model.json")
    ap.add_argument("--features", required=True, help="folder holding test.csv and features.json")
    ap.add_argument("--metrics", required=True, help="file to write the metrics JSON to")
    args = ap.parse_args(argv)
    model_path = os.path.join(args.model_dir, "model.json")
    if not os.path.isfile(model_path):
        fail("%s: no such file (run train.py first)" % model_path)
    with open(model_path) as f:
        model = json.load(f)
    names, _, xs, ys = lr.load(args.features, "test")
    if names != model["features"]:
        fail("the model's features differ from %s" % os.path.join(args.features, "features.json"))
    if not xs:
        fail("no test rows")
    w, b = model["weights"], model["bias"]
    mean, std = model["standardisation"]["mean"], model["standardisation"]["std"]
    t = model["threshold"]
    scores = []
    for x in xs:
        z = b + sum(wj * (xj - m) / s for wj, xj, m, s in zip(w, x, mean, std))
        scores.append(lr.sigmoid(z))
    tp = sum(1 for s, y in zip(scores, ys) if s >= t and y)
    fp = sum(1 for s, y in zip(scores, ys) if s >= t and not y)
    fn = sum(1 for s, y in zip(scores, ys) if s < t and y)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    eps = 1e-12
    ll = -sum(y * math.log(max(s, eps)) + (1 - y) * math.log(max(1 - s, eps)) for s, y in zip(scores, ys)) / len(ys)
    metrics = {
        "auc": round(auc(scores, ys), 6),
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
        "accuracy": round(sum(1 for s, y in zip(scores, ys) if (s >= t) == bool(y)) / len(ys), 6),
        "threshold": round(t, 6),
        "log_loss": round(ll, 6),
        "rows": len(ys),
        "positive_rate": round(sum(ys) / len(ys), 6),
    }
    out_dir = os.path.dirname(os.path.abspath(args.metrics))
    os.makedirs(out_dir, exist_ok=True)
    tmp = args.metrics + ".tmp"
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, args.metrics)
    print("evaluate: %d test rows, %d fraud" % (len(ys), sum(ys)))
    for k in ("auc", "precision", "recall", "f1", "threshold"):
        print("evaluate: %s %.4f" % (k, metrics[k]))
    print("evaluate: wrote %s" % args.metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
