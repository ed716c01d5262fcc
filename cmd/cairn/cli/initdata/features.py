#!/usr/bin/env python3
"""Scale the samples and split them into training and test sets.

    python3 src/features.py --in data/samples --out features

Reads samples.csv from --in, scales x1 and x2 to mean 0 and standard
deviation 1 (as measured on the training rows), and writes train.csv and
test.csv (x1,x2,label) into --out: every fifth row is held out for test.
"""

import argparse
import csv
import math
import os
import sys


def write(path, rows):
    with open(path + ".tmp", "w", newline="") as f:
        f.write("x1,x2,label\n")
        for x1, x2, label in rows:
            f.write("%.6f,%.6f,%d\n" % (x1, x2, label))
    os.replace(path + ".tmp", path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--in", dest="src", required=True, help="folder holding samples.csv")
    ap.add_argument("--out", required=True, help="folder to write train.csv and test.csv into")
    args = ap.parse_args(argv)
    with open(os.path.join(args.src, "samples.csv"), newline="") as f:
        rows = [(int(r["id"]), float(r["x1"]), float(r["x2"]), int(r["label"])) for r in csv.DictReader(f)]
    train = [r for r in rows if r[0] % 5 != 0]
    test = [r for r in rows if r[0] % 5 == 0]
    scale = []
    for col in (1, 2):
        xs = [r[col] for r in train]
        mean = sum(xs) / len(xs)
        std = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs)) or 1.0
        scale.append((mean, std))

    def scaled(r):
        return ((r[1] - scale[0][0]) / scale[0][1], (r[2] - scale[1][0]) / scale[1][1], r[3])

    os.makedirs(args.out, exist_ok=True)
    write(os.path.join(args.out, "train.csv"), [scaled(r) for r in train])
    write(os.path.join(args.out, "test.csv"), [scaled(r) for r in test])
    print("features: %d training rows, %d test rows; wrote %s" % (len(train), len(test), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
