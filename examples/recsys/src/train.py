#!/usr/bin/env python3
"""Train the recommendations example's model: matrix factorisation on
implicit feedback, by stochastic gradient descent on the BPR objective
(each observed user-item pair against a sampled item the user has not
touched), in plain Python.

Reads train.csv from --interactions and writes to --model-dir:

    model.json         users, items, factors, item biases, hyperparameters
    user_factors.csv   user_id,f0..f{k-1}
    item_factors.csv   item_id,bias,f0..f{k-1}
    config.json        hyperparameters and training pairs
    README.md          a short model card

Hyperparameters come from the JSON object in $CAIRN_HPARAMS: factors,
regularization, iterations, learning_rate, seed; the missing ones take
defaults, unknown ones are reported and ignored. A pair's weight (summed
events) scales its step by 1 + log(weight).

    CAIRN_HPARAMS='{"factors": 16}' python3 src/train.py --interactions features --model-dir model
"""

import argparse
import csv
import json
import math
import os
import random
import sys
import time

DEFAULTS = {"factors": 16, "regularization": 0.01, "iterations": 12, "learning_rate": 0.05, "seed": 0}
INTS = {"factors", "iterations", "seed"}


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
    for k in DEFAULTS:
        if k in given:
            v = given[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                fail("hyperparameter %s: want a number, not %r" % (k, v))
            if k in INTS and v != int(v):
                fail("hyperparameter %s: want a whole number, not %r" % (k, v))
            hp[k] = int(v) if k in INTS else float(v)
    if hp["factors"] < 1 or hp["iterations"] < 1 or hp["learning_rate"] <= 0 or hp["regularization"] < 0:
        fail("hyperparameters out of range: %s" % json.dumps(hp, sort_keys=True))
    return hp, sorted(k for k in given if k not in DEFAULTS)


def load_pairs(folder, split):
    path = os.path.join(folder, split + ".csv")
    if not os.path.isfile(path):
        fail("%s: no such file (run features.py first)" % path)
    rows = []
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        for c in ("user_id", "item_id", "weight"):
            if c not in (r.fieldnames or []):
                fail("%s: no column %s" % (path, c))
        for rec in r:
            rows.append((rec["user_id"], rec["item_id"], float(rec["weight"])))
    return rows


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def train(pairs, users, items, hp):
    rng = random.Random(hp["seed"])
    k = hp["factors"]
    scale = 0.1 / math.sqrt(k)
    P = {u: [rng.gauss(0, scale) for _ in range(k)] for u in users}
    Q = {i: [rng.gauss(0, scale) for _ in range(k)] for i in items}
    bias = {i: 0.0 for i in items}
    seen = {}
    for u, i, _ in pairs:
        seen.setdefault(u, set()).add(i)
    lr, reg = hp["learning_rate"], hp["regularization"]
    order = list(range(len(pairs)))
    for it in range(1, hp["iterations"] + 1):
        rng.shuffle(order)
        total = 0.0
        for n in order:
            u, i, w = pairs[n]
            j = items[rng.randrange(len(items))]
            while j in seen[u]:
                j = items[rng.randrange(len(items))]
            pu, qi, qj = P[u], Q[i], Q[j]
            x = bias[i] - bias[j] + sum(a * (b - c) for a, b, c in zip(pu, qi, qj))
            # d/dx log sigmoid(x) = sigmoid(-x)
            if x > 0:
                e = math.exp(-x)
                g = e / (1.0 + e)
                total += math.log1p(e)
            else:
                g = 1.0 / (1.0 + math.exp(x))
                total += -x + math.log1p(math.exp(x))
            step = lr * (1.0 + math.log(w))
            for f in range(k):
                a, b, c = pu[f], qi[f], qj[f]
                pu[f] = a + step * (g * (b - c) - reg * a)
                qi[f] = b + step * (g * a - reg * b)
                qj[f] = c + step * (-g * a - reg * c)
            bias[i] += step * (g - reg * bias[i])
            bias[j] += step * (-g - reg * bias[j])
        print("iteration %d/%d: BPR loss %.5f" % (it, hp["iterations"], total / len(pairs)), flush=True)
    return P, Q, bias


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


MODEL_CARD = """# Recommendations: implicit matrix factorisation

Ranks catalog items for a user: score = item bias + user factors · item factors.

- Model: {factors} latent factors per user and item plus an item bias,
  trained with the BPR objective (an item the user touched should outrank
  one they did not) by stochastic gradient descent, one sampled negative
  per pair, steps scaled by 1 + log(weight).
- Training data: {pairs} user-item pairs of {users} users on {items} items,
  weights from events (view 1, cart 3, purchase 5), built by `features.py`.
- Hyperparameters: {hparams}.
- Files: `model.json` (everything), `user_factors.csv`, `item_factors.csv`.

The data is synthetic; the model says nothing about real shoppers.
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interactions", required=True, help="folder holding train.csv")
    ap.add_argument("--model-dir", required=True, help="folder to write the model into")
    args = ap.parse_args(argv)
    hp, ignored = hyperparameters()
    if ignored:
        print("train: ignoring hyperparameters this model does not use: %s" % ", ".join(ignored))
    pairs = load_pairs(args.interactions, "train")
    if not pairs:
        fail("no training pairs")
    users = sorted({u for u, _, _ in pairs})
    items = sorted({i for _, i, _ in pairs})
    print("train: %d pairs, %d users, %d items; %s" % (len(pairs), len(users), len(items), json.dumps(hp, sort_keys=True)))
    t0 = time.time()
    P, Q, bias = train(pairs, users, items, hp)
    print("train: done in %.1fs" % (time.time() - t0))

    os.makedirs(args.model_dir, exist_ok=True)
    k = hp["factors"]
    r = lambda v: round(v, 8)  # noqa: E731
    model = {
        "type": "bpr_matrix_factorisation",
        "factors": k,
        "users": users,
        "items": items,
        "user_factors": [[r(v) for v in P[u]] for u in users],
        "item_factors": [[r(v) for v in Q[i]] for i in items],
        "item_bias": [r(bias[i]) for i in items],
    }
    write_atomic(os.path.join(args.model_dir, "model.json"), json.dumps(model, sort_keys=True) + "\n")
    fs = ["f%d" % f for f in range(k)]
    write_atomic(os.path.join(args.model_dir, "user_factors.csv"),
                 ",".join(["user_id"] + fs) + "\n" + "".join(",".join([u] + ["%.8g" % v for v in P[u]]) + "\n" for u in users))
    write_atomic(os.path.join(args.model_dir, "item_factors.csv"),
                 ",".join(["item_id", "bias"] + fs) + "\n" + "".join(",".join([i, "%.8g" % bias[i]] + ["%.8g" % v for v in Q[i]]) + "\n" for i in items))
    config = {"hyperparameters": hp, "ignored_hyperparameters": ignored, "training_pairs": len(pairs),
              "users": len(users), "items": len(items)}
    write_atomic(os.path.join(args.model_dir, "config.json"), json.dumps(config, indent=2, sort_keys=True) + "\n")
    write_atomic(os.path.join(args.model_dir, "README.md"), MODEL_CARD.format(
        factors=k, pairs=len(pairs), users=len(users), items=len(items), hparams=json.dumps(hp, sort_keys=True)))
    print("train: wrote model.json, user_factors.csv, item_factors.csv, config.json, README.md in %s" % args.model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
