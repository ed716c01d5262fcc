#!/usr/bin/env python3
"""Train the fraud example's model: logistic regression with L2, by
mini-batch gradient descent, in plain Python.

Reads --features (train.csv and features.json from features.py) and writes
to --model-dir:

    model.json    weights, bias, feature names, standardisation, threshold
    config.json   hyperparameters and training rows
    README.md     a short model card

Hyperparameters come from the JSON object in $CAIRN_HPARAMS (keys
learning_rate, epochs, l2, batch_size, seed); the ones missing take
defaults, unknown ones are reported and ignored. The decision threshold is
the one that maximises F1 on the training rows.

    CAIRN_HPARAMS='{"epochs": 20}' python3 src/train.py --features features --model-dir model
"""

import argparse
import csv
import json
import math
import os
import random
import sys
import time

DEFAULTS = {"learning_rate": 0.1, "epochs": 15, "l2": 0.0001, "batch_size": 64, "seed": 0}


def fail(msg):
    print("train.py: " + msg, file=sys.stderr)
    sys.exit(1)


def hyperparameters():
    raw = os.environ.get("CAIRN_HPARAMS", "").strip()
    hp = dict(DEFAULTS)
    if not raw:
        return hp, []
    try:
        given = json.loads(raw)
    except ValueError as e:
        fail("CAIRN_HPARAMS is not JSON: %s" % e)
    if not isinstance(given, dict):
        fail("CAIRN_HPARAMS must be a JSON object, not %s" % type(given).__name__)
    ignored = sorted(k for k in given if k not in DEFAULTS)
    for k in DEFAULTS:
        if k in given:
            v = given[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                fail("hyperparameter %s: want a number, not %r" % (k, v))
            if isinstance(DEFAULTS[k], int) and v != int(v):
                fail("hyperparameter %s: want a whole number, not %r" % (k, v))
            hp[k] = type(DEFAULTS[k])(v)
    if hp["epochs"] < 1 or hp["batch_size"] < 1 or hp["learning_rate"] <= 0 or hp["l2"] < 0:
        fail("hyperparameters out of range: %s" % json.dumps(hp, sort_keys=True))
    return hp, ignored


def load(features_dir, split):
    meta_path = os.path.join(features_dir, "features.json")
    path = os.path.join(features_dir, split + ".csv")
    for p in (meta_path, path):
        if not os.path.isfile(p):
            fail("%s: no such file (run features.py first)" % p)
    with open(meta_path) as f:
        meta = json.load(f)
    names = meta["features"]
    xs, ys, ids = [], [], []
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r, None)
        if header != [meta["id"]] + names + [meta["label"]]:
            fail("%s: header does not match features.json" % path)
        for rec in r:
            ids.append(rec[0])
            xs.append([float(v) for v in rec[1:-1]])
            ys.append(int(rec[-1]))
    return names, ids, xs, ys


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def standardise(xs):
    n, d = len(xs), len(xs[0])
    mean = [sum(x[j] for x in xs) / n for j in range(d)]
    std = []
    for j in range(d):
        v = sum((x[j] - mean[j]) ** 2 for x in xs) / n
        std.append(math.sqrt(v) if v > 1e-12 else 1.0)
    return mean, std, [[(x[j] - mean[j]) / std[j] for j in range(d)] for x in xs]


def log_loss(w, b, xs, ys, l2):
    total = 0.0
    for x, y in zip(xs, ys):
        p = min(max(sigmoid(b + sum(wj * xj for wj, xj in zip(w, x))), 1e-12), 1 - 1e-12)
        total -= y * math.log(p) + (1 - y) * math.log(1 - p)
    return total / len(xs) + 0.5 * l2 * sum(wj * wj for wj in w)


def train(xs, ys, hp):
    """Mini-batch gradient descent; prints each epoch's mean loss (the loss
    of each row as its batch met it, plus the L2 term)."""
    rng = random.Random(hp["seed"])
    d = len(xs[0])
    w, b = [0.0] * d, 0.0
    order = list(range(len(xs)))
    lr, l2, bs = hp["learning_rate"], hp["l2"], hp["batch_size"]
    for epoch in range(1, hp["epochs"] + 1):
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), bs):
            batch = order[start:start + bs]
            gw, gb = [0.0] * d, 0.0
            for i in batch:
                x = xs[i]
                p = sigmoid(b + sum(wj * xj for wj, xj in zip(w, x)))
                y = ys[i]
                total -= math.log(max(p, 1e-12)) if y else math.log(max(1 - p, 1e-12))
                g = p - y
                gb += g
                for j in range(d):
                    gw[j] += g * x[j]
            step = lr / len(batch)
            for j in range(d):
                w[j] -= step * gw[j] + lr * l2 * w[j]
            b -= step * gb
        loss = total / len(xs) + 0.5 * l2 * sum(wj * wj for wj in w)
        print("epoch %d/%d: loss %.5f" % (epoch, hp["epochs"], loss), flush=True)
    return w, b


def best_threshold(scores, ys):
    """Returns the score threshold with the highest F1 on (scores, ys)."""
    pairs = sorted(zip(scores, ys), reverse=True)
    positives = sum(ys)
    tp = fp = 0
    best, best_t = -1.0, 0.5
    for i, (s, y) in enumerate(pairs):
        tp += y
        fp += 1 - y
        if i + 1 < len(pairs) and pairs[i + 1][0] == s:
            continue
        f1 = 2 * tp / (tp + fp + positives) if positives else 0.0
        if f1 > best:
            nxt = pairs[i + 1][0] if i + 1 < len(pairs) else 0.0
            best, best_t = f1, (s + nxt) / 2
    return best_t, best


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


MODEL_CARD = """# Fraud detection: logistic regression

Scores card transactions with the probability that they are fraud.

- Model: logistic regression with L2 regularisation, trained by mini-batch
  gradient descent on standardised features (`model.json`: weights, bias,
  feature means and standard deviations, decision threshold).
- Training data: {rows} transactions ({positives} fraud) from the
  `transactions` dataset, features built by `features.py`.
- Hyperparameters: {hparams}.
- Decision threshold: {threshold:.4f}, the one with the highest F1 on the
  training rows (F1 {f1:.3f} there).
- Final training loss: {loss:.5f}.

Intended use: ranking transactions for review. The data is synthetic; the
model says nothing about real payments.
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", required=True, help="folder with train.csv and features.json")
    ap.add_argument("--model-dir", required=True, help="folder to write the model into")
    args = ap.parse_args(argv)
    hp, ignored = hyperparameters()
    if ignored:
        print("train: ignoring hyperparameters this model does not use: %s" % ", ".join(ignored))
    names, _, xs, ys = load(args.features, "train")
    if not xs:
        fail("no training rows")
    if not 0 < sum(ys) < len(ys):
        fail("training rows hold a single class")
    print("train: %d rows, %d features, %d positives; %s" % (len(xs), len(names), sum(ys), json.dumps(hp, sort_keys=True)))
    t0 = time.time()
    mean, std, zs = standardise(xs)
    w, b = train(zs, ys, hp)
    scores = [sigmoid(b + sum(wj * xj for wj, xj in zip(w, x))) for x in zs]
    threshold, f1 = best_threshold(scores, ys)
    loss = log_loss(w, b, zs, ys, hp["l2"])
    print("train: done in %.1fs; threshold %.4f (train F1 %.3f)" % (time.time() - t0, threshold, f1))

    os.makedirs(args.model_dir, exist_ok=True)
    model = {
        "type": "logistic_regression",
        "features": names,
        "weights": [round(v, 10) for v in w],
        "bias": round(b, 10),
        "standardisation": {"mean": [round(v, 10) for v in mean], "std": [round(v, 10) for v in std]},
        "threshold": round(threshold, 10),
        "threshold_source": "max F1 on the training rows",
    }
    config = {"hyperparameters": hp, "ignored_hyperparameters": ignored, "training_rows": len(xs),
              "training_positives": sum(ys), "features": len(names), "final_loss": round(loss, 6)}
    write_atomic(os.path.join(args.model_dir, "model.json"), json.dumps(model, indent=2, sort_keys=True) + "\n")
    write_atomic(os.path.join(args.model_dir, "config.json"), json.dumps(config, indent=2, sort_keys=True) + "\n")
    write_atomic(os.path.join(args.model_dir, "README.md"), MODEL_CARD.format(
        rows=len(xs), positives=sum(ys), hparams=json.dumps(hp, sort_keys=True), threshold=threshold, f1=f1, loss=loss))
    print("train: wrote model.json, config.json, README.md in %s" % args.model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
