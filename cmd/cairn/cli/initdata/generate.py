#!/usr/bin/env python3
"""Generate the starter's samples: two clouds of points, one per label.

    python3 src/generate.py --rows 2000 --seed 1 --out data/samples

Writes samples.csv (id,x1,x2,label) into --out. The same arguments give
the same bytes.
"""

import argparse
import os
import random
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, help="folder to write samples.csv into")
    args = ap.parse_args(argv)
    if args.rows < 10:
        ap.error("--rows must be at least 10")
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "samples.csv")
    with open(path + ".tmp", "w", newline="") as f:
        f.write("id,x1,x2,label\n")
        for i in range(args.rows):
            label = i % 2
            cx, cy = (2.0, 1.0) if label else (0.0, -1.0)
            x1, x2 = rng.gauss(cx, 1.0), rng.gauss(cy, 1.0)
            f.write("%d,%.6f,%.6f,%d\n" % (i, x1, x2, label))
    os.replace(path + ".tmp", path)
    print("generate: %d rows; wrote %s" % (args.rows, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
