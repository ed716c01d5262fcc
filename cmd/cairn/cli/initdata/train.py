#!/usr/bin/env python3
"""Train a logistic regression on the scaled features.

    CAIRN_HPARAMS='{"epochs": 100}' python3 src/train.py --features features --model-dir model

Reads train.csv from --features and writes model.json (weights, bias and
the hyperparameters used) into --model-dir. Hyperparameters come from the
JSON object in $CAIRN_HPARAMS: learning_rate (default 0.5) and epochs
(default 200).
"""

import argparse
import csv
import json
import math
import os
import sys


def load(path):
    with open(path, newline="") as f:
        return [((float(r["x1"]), float(r["x2"])), int(r["label"])) for r in csv.DictReader(f)]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", required=True, help="folder holding train.csv")
    ap.add_argument("--model-dir", required=True, help="folder to write model.json into")
    args = ap.parse_args(argv)
    hp = {"learning_rate": 0.5, "epochs": 200}
    hp.update(json.loads(os.environ.get("CAIRN_HPARAMS") or "{}"))
    rows = load(os.path.join(args.features, "train.csv"))
    w, b = [0.0, 0.0], 0.0
    for _ in range(int(hp["epochs"])):
        gw, gb = [0.0, 0.0], 0.0
        for x, y in rows:
            err = sigmoid(w[0] * x[0] + w[1] * x[1] + b) - y
            gw[0] += err * x[0]
            gw[1] += err * x[1]
            gb += err
        n = len(rows)
        w = [w[0] - hp["learning_rate"] * gw[0] / n, w[1] - hp["learning_rate"] * gw[1] / n]
        b -= hp["learning_rate"] * gb / n
    os.makedirs(args.model_dir, exist_ok=True)
    path = os.path.join(args.model_dir, "model.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"weights": w, "bias": b, "hyperparameters": hp}, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)
    print("train: %d rows, %d epochs; wrote %s" % (len(rows), int(hp["epochs"]), path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
