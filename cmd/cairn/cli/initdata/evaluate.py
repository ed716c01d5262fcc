#!/usr/bin/env python3
"""Evaluate the model on the held-out test set.

    python3 src/evaluate.py --model-dir model --features features --metrics evaluation/metrics.json

Reads model.json from --model-dir and test.csv from --features, and writes
a JSON object of metrics to --metrics: accuracy (at threshold 0.5), auc
(the area under the ROC curve) and rows. The gates in the spec hold these
metrics.
"""

import argparse
import csv
import json
import math
import os
import sys


def auc(scored):
    """The probability that a positive outscores a negative, ties half."""
    scored = sorted(scored)
    pos = sum(y for _, y in scored)
    neg = len(scored) - pos
    if pos == 0 or neg == 0:
        return 0.0
    rank_sum, i = 0.0, 0
    while i < len(scored):
        j = i
        while j < len(scored) and scored[j][0] == scored[i][0]:
            j += 1
        rank = (i + j + 1) / 2.0  # ranks are 1-based
        rank_sum += rank * sum(y for _, y in scored[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True, help="folder holding model.json")
    ap.add_argument("--features", required=True, help="folder holding test.csv")
    ap.add_argument("--metrics", required=True, help="file to write the metrics JSON to")
    args = ap.parse_args(argv)
    with open(os.path.join(args.model_dir, "model.json")) as f:
        model = json.load(f)
    w, b = model["weights"], model["bias"]
    scored = []
    with open(os.path.join(args.features, "test.csv"), newline="") as f:
        for r in csv.DictReader(f):
            z = w[0] * float(r["x1"]) + w[1] * float(r["x2"]) + b
            scored.append((1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))), int(r["label"])))
    correct = sum(1 for p, y in scored if (p >= 0.5) == (y == 1))
    metrics = {"accuracy": round(correct / len(scored), 4), "auc": round(auc(scored), 4), "rows": len(scored)}
    os.makedirs(os.path.dirname(os.path.abspath(args.metrics)), exist_ok=True)
    with open(args.metrics + ".tmp", "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(args.metrics + ".tmp", args.metrics)
    print("evaluate: accuracy %.4f, auc %.4f on %d rows; wrote %s" % (metrics["accuracy"], metrics["auc"], len(scored), args.metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
