#!/usr/bin/env python3
"""Generate a small English-like corpus for the BERT pre-training example.

Writes to --out one sentence per line in corpus-00000.txt, corpus-00001.txt,
... (5,000 sentences a file) and vocab.txt: the special tokens [PAD], [UNK],
[CLS], [SEP], [MASK], then every word of the corpus, most frequent first.

Sentences come from a small grammar with agreement (a singular subject takes
a singular verb), adjectives that suit their nouns, prepositional phrases
and relative clauses, so that a masked language model has real structure to
learn. Words are lower case; "." and "," are words. The same arguments give
the same bytes.

    python3 src/make_corpus.py --sentences 20000 --seed 3 --out data/corpus
"""

import argparse
import collections
import os
import random
import sys

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PER_FILE = 5000

# noun: (plural, kind)
NOUNS = {
    "cat": ("cats", "animal"), "dog": ("dogs", "animal"), "bird": ("birds", "animal"),
    "horse": ("horses", "animal"), "fox": ("foxes", "animal"), "child": ("children", "person"),
    "teacher": ("teachers", "person"), "farmer": ("farmers", "person"), "doctor": ("doctors", "person"),
    "student": ("students", "person"), "baker": ("bakers", "person"), "river": ("rivers", "place"),
    "garden": ("gardens", "place"), "city": ("cities", "place"), "forest": ("forests", "place"),
    "village": ("villages", "place"), "book": ("books", "thing"), "letter": ("letters", "thing"),
    "apple": ("apples", "food"), "bread": ("loaves", "food"), "cake": ("cakes", "food"),
    "song": ("songs", "thing"), "stone": ("stones", "thing"), "boat": ("boats", "thing"),
}
ADJECTIVES = {
    "animal": ["small", "quick", "lazy", "brown", "old", "young", "hungry", "quiet"],
    "person": ["kind", "tired", "young", "old", "busy", "clever", "happy", "quiet"],
    "place": ["green", "old", "quiet", "busy", "large", "small", "distant", "cold"],
    "thing": ["old", "heavy", "small", "new", "red", "strange", "long", "broken"],
    "food": ["fresh", "sweet", "warm", "red", "small", "large", "dry", "new"],
}
# verb: (third person singular, past, what it takes)
VERBS = {
    "see": ("sees", "saw", "any"), "like": ("likes", "liked", "any"), "find": ("finds", "found", "any"),
    "eat": ("eats", "ate", "food"), "read": ("reads", "read", "book"), "write": ("writes", "wrote", "letter"),
    "sing": ("sings", "sang", "song"), "carry": ("carries", "carried", "thing"), "visit": ("visits", "visited", "place"),
    "follow": ("follows", "followed", "agent"), "help": ("helps", "helped", "agent"), "watch": ("watches", "watched", "agent"),
}
INTRANSITIVE = {"sleep": ("sleeps", "slept"), "run": ("runs", "ran"), "wait": ("waits", "waited"),
                "sing": ("sings", "sang"), "rest": ("rests", "rested"), "play": ("plays", "played")}
PREPOSITIONS = ["near", "behind", "in", "beside", "across", "under"]
ADVERBS = ["quickly", "slowly", "quietly", "often", "happily", "today", "again"]


def nouns_of(kinds):
    return [n for n, (_, k) in NOUNS.items() if k in kinds]


def noun_phrase(rng, kinds, plural=None, depth=0):
    noun = rng.choice(nouns_of(kinds))
    if plural is None:
        plural = rng.random() < 0.35
    word = NOUNS[noun][0] if plural else noun
    kind = NOUNS[noun][1]
    det = rng.choice(["the", "some", "many", "two"] if plural else ["the", "a", "one", "this"])
    words = [det]
    for adj in rng.sample(ADJECTIVES[kind], rng.choice([0, 0, 1, 1, 2])):
        words.append(adj)
    words.append(word)
    if depth == 0 and rng.random() < 0.25:
        words += [rng.choice(PREPOSITIONS)] + noun_phrase(rng, ["place"], depth=1)[0]
    elif depth == 0 and kind in ("animal", "person") and rng.random() < 0.15:
        verb = rng.choice(list(INTRANSITIVE))
        words += ["that", INTRANSITIVE[verb][0] if not plural else verb]
    return words, plural


def object_for(rng, takes):
    if takes == "food":
        return noun_phrase(rng, ["food"])[0]
    if takes in ("book", "letter", "song"):
        return noun_phrase(rng, ["thing"])[0] if rng.random() < 0.3 else [rng.choice(["the", "a"]), takes]
    if takes == "agent":
        return noun_phrase(rng, ["animal", "person"])[0]
    if takes in ("thing", "place"):
        return noun_phrase(rng, [takes])[0]
    return noun_phrase(rng, ["animal", "person", "thing", "food", "place"])[0]


def sentence(rng):
    return clause(rng) + ["."]


def clause(rng):
    subj, plural = noun_phrase(rng, ["animal", "person"])
    past = rng.random() < 0.4
    words = list(subj)
    if rng.random() < 0.7:
        verb = rng.choice(list(VERBS))
        third, pastform, takes = VERBS[verb]
        words.append(pastform if past else (verb if plural else third))
        words += object_for(rng, takes)
    else:
        verb = rng.choice(list(INTRANSITIVE))
        third, pastform = INTRANSITIVE[verb]
        words.append(pastform if past else (verb if plural else third))
        if rng.random() < 0.5:
            words.append(rng.choice(ADVERBS))
    if rng.random() < 0.2:
        words += [",", "and", "then"] + clause(rng)
    return words


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=20000, help="number of sentences (default 20000)")
    ap.add_argument("--seed", type=int, default=3, help="random seed (default 3)")
    ap.add_argument("--out", required=True, help="folder to write corpus-*.txt and vocab.txt into")
    args = ap.parse_args(argv)
    if args.sentences < 1:
        ap.error("--sentences must be at least 1")
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    counts = collections.Counter()
    files = []
    for start in range(0, args.sentences, PER_FILE):
        name = "corpus-%05d.txt" % len(files)
        path = os.path.join(args.out, name)
        with open(path + ".tmp", "w") as f:
            for _ in range(min(PER_FILE, args.sentences - start)):
                words = sentence(rng)
                counts.update(words)
                f.write(" ".join(words) + "\n")
        os.replace(path + ".tmp", path)
        files.append(name)
    vocab = SPECIAL + [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    with open(os.path.join(args.out, "vocab.txt.tmp"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    os.replace(os.path.join(args.out, "vocab.txt.tmp"), os.path.join(args.out, "vocab.txt"))
    print("make_corpus: %d sentences, %d words, vocabulary of %d (with %d special tokens)" % (
        args.sentences, sum(counts.values()), len(vocab), len(SPECIAL)))
    print("make_corpus: wrote %s and vocab.txt in %s" % (", ".join(files), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
