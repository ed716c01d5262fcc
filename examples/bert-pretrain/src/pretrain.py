#!/usr/bin/env python3
"""Pre-train a tiny BERT with masked language modelling, on one process or
many (mpirun, torchrun), with PyTorch alone.

    python3 src/pretrain.py --input data/corpus --output-dir model \\
        --hparams '{"layers": 4, "hidden": 256, "heads": 4, "seq_len": 64,
                    "batch_size": 64, "train_steps": 300, "learning_rate": 5e-4,
                    "mixed_precision": "bf16"}'
    mpirun -np 16 python3 src/pretrain.py --input ... --output-dir ... --hparams ...

--input is the folder make_corpus.py writes: *.txt files of one sentence a
line, and vocab.txt (one token a line, starting [PAD] [UNK] [CLS] [SEP]
[MASK]). Sentences are packed into sequences of seq_len tokens:
[CLS] s1 [SEP] s2 [SEP] ... [PAD]. 5% of the sequences are held out to
measure masked-token accuracy at the end.

The model: token and position embeddings, a stack of pre-norm
nn.TransformerEncoder layers (GELU, feed-forward 4 x hidden) and a
masked-LM head tied to the token embeddings. Masking: 15% of word tokens;
of those 80% become [MASK], 10% a random word, 10% stay. AdamW, linear
warm-up over 10% of the steps then linear decay, gradients clipped to 1.

Hyperparameters (--hparams, a JSON object, or $CAIRN_HPARAMS): layers,
hidden, heads, seq_len, batch_size (per process; the global batch is
batch_size x world size), train_steps, learning_rate, mixed_precision
("bf16", "fp16" or "no"; used on CUDA only), and optionally warmup_steps,
log_every, seed, dropout.

Distribution: rank, world size and local rank come from
OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE / OMPI_COMM_WORLD_LOCAL_RANK
(mpirun) or RANK / WORLD_SIZE / LOCAL_RANK (torchrun). With more than one
process they meet at MASTER_ADDR:MASTER_PORT (defaults: the first host of
the MPI hostfile when there is one, else 127.0.0.1; port 29500), with
NCCL on CUDA (one GPU per local rank) and gloo on CPU, and train under
DistributedDataParallel. Rank 0 logs step, loss and steps/s to stdout and
OUTDIR/metrics.jsonl, and writes OUTDIR/model.safetensors (model.pt when
the safetensors package is absent), config.json, vocab.txt, README.md and
train_summary.json.
"""

import argparse
import contextlib
import datetime
import glob
import json
import math
import os
import sys
import time

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(5)

DEFAULTS = {
    "layers": 4, "hidden": 256, "heads": 4, "seq_len": 64, "batch_size": 64,
    "train_steps": 300, "learning_rate": 5e-4, "mixed_precision": "bf16",
    "warmup_steps": None, "log_every": None, "seed": 0, "dropout": 0.1,
}
INTS = ("layers", "hidden", "heads", "seq_len", "batch_size", "train_steps", "warmup_steps", "log_every", "seed")


def fail(msg):
    print("pretrain.py: " + msg, file=sys.stderr)
    sys.exit(1)


def parse_hparams(text):
    """Returns the hyperparameters from a JSON object (or $CAIRN_HPARAMS when
    text is empty or an unexpanded $(...)), and the unknown keys."""
    if not text or text.startswith("$("):
        text = os.environ.get("CAIRN_HPARAMS", "")
    given = {}
    if text.strip():
        try:
            given = json.loads(text)
        except ValueError as e:
            fail("--hparams is not JSON: %s" % e)
        if not isinstance(given, dict):
            fail("--hparams must be a JSON object")
    hp = dict(DEFAULTS)
    for k, v in given.items():
        if k not in DEFAULTS:
            continue
        if k == "mixed_precision":
            if v is True:
                v = "bf16"
            if v is False or v is None:
                v = "no"
            v = str(v).lower()
            if v in ("none", "fp32", "off", "false"):
                v = "no"
            if v not in ("bf16", "fp16", "no"):
                fail('hyperparameter mixed_precision: want "bf16", "fp16" or "no", not %r' % given[k])
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            fail("hyperparameter %s: want a number, not %r" % (k, v))
        elif k in INTS:
            if v != int(v):
                fail("hyperparameter %s: want a whole number, not %r" % (k, v))
            v = int(v)
        else:
            v = float(v)
        hp[k] = v
    for k in ("layers", "hidden", "heads", "seq_len", "batch_size", "train_steps"):
        if hp[k] < 1:
            fail("hyperparameter %s: want at least 1, not %r" % (k, hp[k]))
    if hp["hidden"] % hp["heads"]:
        fail("hyperparameter hidden (%d) must be a multiple of heads (%d)" % (hp["hidden"], hp["heads"]))
    if hp["seq_len"] < 8:
        fail("hyperparameter seq_len: want at least 8")
    if not hp["learning_rate"] > 0:
        fail("hyperparameter learning_rate: want more than 0")
    if not 0 <= hp["dropout"] < 1:
        fail("hyperparameter dropout: want 0 <= dropout < 1")
    if hp["warmup_steps"] is None:
        hp["warmup_steps"] = max(1, hp["train_steps"] // 10)
    if hp["log_every"] is None:
        hp["log_every"] = max(1, min(50, hp["train_steps"] // 20))
    return hp, sorted(k for k in given if k not in DEFAULTS)


def read_corpus(path):
    """Returns (vocab list, list of token-id lists) from the corpus folder."""
    if os.path.isfile(path):
        files, vocab_path = [path], os.path.join(os.path.dirname(path), "vocab.txt")
    elif os.path.isdir(path):
        vocab_path = os.path.join(path, "vocab.txt")
        files = sorted(f for f in glob.glob(os.path.join(path, "**", "*.txt"), recursive=True)
                       if os.path.basename(f) != "vocab.txt")
    else:
        fail("--input %s: no such file or folder" % path)
    if not files:
        fail("--input %s: no .txt files" % path)
    sentences = []
    for name in files:
        with open(name, encoding="utf-8") as f:
            sentences.extend(line.split() for line in f if line.strip())
    if not sentences:
        fail("--input %s: no sentences" % path)
    if os.path.isfile(vocab_path):
        with open(vocab_path, encoding="utf-8") as f:
            vocab = [line.rstrip("\n") for line in f if line.strip()]
        if vocab[:len(SPECIAL)] != SPECIAL:
            fail("%s: must start with %s" % (vocab_path, " ".join(SPECIAL)))
    else:
        words = sorted({w for s in sentences for w in s} - set(SPECIAL))
        vocab = SPECIAL + words
    index = {w: i for i, w in enumerate(vocab)}
    return vocab, [[index.get(w, UNK) for w in s] for s in sentences], files


def pack(sentences, seq_len):
    """Packs sentences into rows of seq_len ids: [CLS] s1 [SEP] s2 [SEP] ... [PAD]."""
    rows, row = [], [CLS]
    for s in sentences:
        s = s[:seq_len - 2]
        if len(row) + len(s) + 1 > seq_len:
            rows.append(row + [PAD] * (seq_len - len(row)))
            row = [CLS]
        row += s + [SEP]
    if len(row) > 1:
        rows.append(row + [PAD] * (seq_len - len(row)))
    return rows


def dist_env():
    env = os.environ

    def first(*names, default):
        for n in names:
            if env.get(n, "") != "":
                return int(env[n])
        return default

    rank = first("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "RANK", default=0)
    world = first("OMPI_COMM_WORLD_SIZE", "WORLD_SIZE", default=1)
    local = first("OMPI_COMM_WORLD_LOCAL_RANK", "LOCAL_RANK", default=0)
    return rank, world, local


def master_addr():
    """MASTER_ADDR, else the first host of the MPI hostfile (rank 0 runs on
    the first slot of the first host), else 127.0.0.1."""
    if os.environ.get("MASTER_ADDR"):
        return os.environ["MASTER_ADDR"]
    for hostfile in (os.environ.get("OMPI_MCA_orte_default_hostfile"), os.environ.get("OMPI_MCA_rmaps_default_hostfile"),
                     "/etc/mpi/hostfile"):
        if hostfile and os.path.isfile(hostfile):
            with open(hostfile) as f:
                for line in f:
                    host = line.split("#")[0].split()
                    if host:
                        return host[0]
    return "127.0.0.1"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True, help="corpus folder: *.txt sentences and vocab.txt")
    ap.add_argument("--output-dir", required=True, help="folder to write the model into")
    ap.add_argument("--hparams", default="", help="hyperparameters as a JSON object (default: $CAIRN_HPARAMS)")
    args = ap.parse_args(argv)
    hp, ignored = parse_hparams(args.hparams)
    try:
        import torch
        import torch.distributed as dist
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError as e:
        print("pretrain.py needs PyTorch (pip install torch); not found: %s" % e, file=sys.stderr)
        return 1
    return run(args, hp, ignored, torch, dist, nn, F)


def run(args, hp, ignored, torch, dist, nn, F):
    rank, world, local_rank = dist_env()
    is_main = rank == 0

    def log(msg):
        if is_main:
            print(msg, flush=True)

    cuda = torch.cuda.is_available()
    if cuda:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device("cpu")
    backend = "nccl" if cuda else "gloo"
    if world > 1:
        addr, port = master_addr(), int(os.environ.get("MASTER_PORT", "29500"))
        log("pretrain: %d processes meet at %s:%d (%s)" % (world, addr, port, backend))
        dist.init_process_group(backend, init_method="tcp://%s:%d" % (addr, port), rank=rank, world_size=world,
                                timeout=datetime.timedelta(minutes=10))
    print("pretrain: rank %d of %d (local %d) on %s" % (rank, world, local_rank,
          torch.cuda.get_device_name(device) if cuda else "cpu"), flush=True)
    if ignored:
        log("pretrain: ignoring unknown hyperparameters: %s" % ", ".join(ignored))

    vocab, sentences, files = read_corpus(args.input)
    rows = pack(sentences, hp["seq_len"])
    data = torch.tensor(rows, dtype=torch.long)
    n_held = max(1, len(rows) // 20) if len(rows) > 1 else 0
    g_split = torch.Generator().manual_seed(1234)
    perm = torch.randperm(len(rows), generator=g_split)
    held, train_data = data[perm[:n_held]], data[perm[n_held:]]
    if len(train_data) == 0:
        train_data = data
    log("pretrain: %d sentences from %d files, vocabulary %d, %d sequences of %d (%d held out)" % (
        len(sentences), len(files), len(vocab), len(rows), hp["seq_len"], n_held))

    amp = hp["mixed_precision"] if cuda else "no"
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        amp = "fp16"
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)

    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=amp_dtype)

    class TinyBert(nn.Module):
        def __init__(self, vocab_size, hidden, layers, heads, seq_len, dropout):
            super().__init__()
            self.tok = nn.Embedding(vocab_size, hidden, padding_idx=PAD)
            self.pos = nn.Embedding(seq_len, hidden)
            self.emb_norm = nn.LayerNorm(hidden)
            self.drop = nn.Dropout(dropout)
            layer = nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=4 * hidden, dropout=dropout,
                                               activation="gelu", batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(hidden), enable_nested_tensor=False)
            self.transform = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden))
            self.out_bias = nn.Parameter(torch.zeros(vocab_size))
            self.register_buffer("positions", torch.arange(seq_len), persistent=False)
            self.apply(self._init)

        @staticmethod
        def _init(m):
            # BERT's initialisation: small normal weights, so that the tied
            # output layer starts near uniform (loss about log(vocab size)).
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
                if m.padding_idx is not None:
                    with torch.no_grad():
                        m.weight[m.padding_idx].zero_()

        def forward(self, ids):
            x = self.tok(ids) + self.pos(self.positions[: ids.shape[1]])
            x = self.drop(self.emb_norm(x))
            x = self.encoder(x, src_key_padding_mask=ids == PAD)
            return self.transform(x) @ self.tok.weight.t() + self.out_bias

    torch.manual_seed(hp["seed"])  # the same initial weights on every rank
    model = TinyBert(len(vocab), hp["hidden"], hp["layers"], hp["heads"], hp["seq_len"], hp["dropout"]).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    opt = torch.optim.AdamW(model.parameters(), lr=hp["learning_rate"], weight_decay=0.01)
    steps, warm = hp["train_steps"], hp["warmup_steps"]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")
    log("pretrain: %d parameters; %s" % (n_params, json.dumps(hp, sort_keys=True)))
    log("pretrain: device %s, mixed precision %s, global batch %d" % (device, amp, hp["batch_size"] * world))

    gen = torch.Generator().manual_seed(hp["seed"] * 1000003 + rank)
    torch.manual_seed(hp["seed"] * 1000003 + rank)  # dropout differs by rank

    def mask(ids, g):
        special = ids < len(SPECIAL)
        picked = (torch.rand(ids.shape, generator=g) < 0.15) & ~special
        if not picked.any():  # at least one masked token per batch
            words = (~special).nonzero()
            if len(words):
                picked[tuple(words[0])] = True
        labels = torch.where(picked, ids, torch.full_like(ids, -100))
        r = torch.rand(ids.shape, generator=g)
        inputs = ids.clone()
        inputs[picked & (r < 0.8)] = MASK
        swap = picked & (r >= 0.8) & (r < 0.9)
        inputs[swap] = torch.randint(len(SPECIAL), len(vocab), ids.shape, generator=g)[swap]
        return inputs, labels

    out = args.output_dir
    if is_main:
        os.makedirs(out, exist_ok=True)
        metrics_file = open(os.path.join(out, "metrics.jsonl"), "w")
    curve = []
    net.train()
    t_start = time.time()
    t_first = None  # after the first step (CUDA start-up, allocator warm-up)
    loss_sum, loss_n = 0.0, 0
    for step in range(1, steps + 1):
        idx = torch.randint(len(train_data), (hp["batch_size"],), generator=gen)
        inputs, labels = mask(train_data[idx], gen)
        inputs, labels = inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast():
            logits = net(inputs)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        sched.step()
        loss_sum += loss.detach().float()
        loss_n += 1
        if step == 1:
            if cuda:
                torch.cuda.synchronize()
            t_first = time.time()
        if step % hp["log_every"] == 0 or step == steps:
            avg = (loss_sum / loss_n).reshape(1)
            if world > 1:
                dist.all_reduce(avg)
                avg /= world
            avg = avg.item()  # synchronises with the device
            now = time.time()
            rate = (step - 1) / (now - t_first) if step > 1 and now > t_first else 0.0
            loss_sum, loss_n = 0.0, 0
            curve.append([step, round(avg, 5)])
            if is_main:
                rec = {"step": step, "loss": round(avg, 5), "steps_per_s": round(rate, 3),
                       "lr": round(sched.get_last_lr()[0], 8), "elapsed_s": round(now - t_start, 3)}
                print("step %d/%d: loss %.4f, %.2f steps/s, lr %.2e" % (step, steps, avg, rate, rec["lr"]), flush=True)
                metrics_file.write(json.dumps(rec, sort_keys=True) + "\n")
                metrics_file.flush()
            if not math.isfinite(avg):
                fail("loss is %s at step %d" % (avg, step))
    if cuda:
        torch.cuda.synchronize()
    t_end = time.time()
    steps_per_s = (steps - 1) / (t_end - t_first) if steps > 1 and t_end > t_first else 0.0

    if is_main:
        metrics_file.close()
        model.eval()
        correct = total = 0
        g_eval = torch.Generator().manual_seed(4321)
        with torch.no_grad():
            for start in range(0, len(held), 256):
                inputs, labels = mask(held[start:start + 256], g_eval)
                inputs, labels = inputs.to(device), labels.to(device)
                with autocast():
                    pred = model(inputs).argmax(-1)
                sel = labels != -100
                correct += (pred[sel] == labels[sel]).sum().item()
                total += sel.sum().item()
        accuracy = correct / total if total else float("nan")
        state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
        try:
            from safetensors.torch import save_file
            weights = "model.safetensors"
            save_file(state, os.path.join(out, weights + ".tmp"), metadata={"format": "pt"})
        except ImportError:
            weights = "model.pt"
            torch.save(state, os.path.join(out, weights + ".tmp"))
        os.chmod(os.path.join(out, weights + ".tmp"), 0o644)
        os.replace(os.path.join(out, weights + ".tmp"), os.path.join(out, weights))
        config = {
            "architecture": "tiny-bert-mlm", "vocab_size": len(vocab), "hidden": hp["hidden"],
            "layers": hp["layers"], "heads": hp["heads"], "intermediate": 4 * hp["hidden"],
            "max_position": hp["seq_len"], "norm_first": True, "activation": "gelu", "tied_embeddings": True,
            "special_tokens": dict(zip(SPECIAL, range(len(SPECIAL)))), "weights": weights,
            "hyperparameters": hp, "parameters": n_params,
        }
        device_name = torch.cuda.get_device_name(device) if cuda else "cpu"
        summary = {
            "device": device_name, "world_size": world, "backend": backend if world > 1 else None,
            "mixed_precision": amp, "steps": steps, "steps_per_s": round(steps_per_s, 3),
            "sequences_per_s": round(steps_per_s * hp["batch_size"] * world, 1),
            "final_loss": curve[-1][1] if curve else None,
            "masked_accuracy_held_out": round(accuracy, 4), "loss_curve": curve,
            "elapsed_s": round(t_end - t_start, 3), "parameters": n_params, "torch": torch.__version__,
        }

        def write(name, text):
            with open(os.path.join(out, name + ".tmp"), "w") as f:
                f.write(text)
            os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))

        write("config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
        write("vocab.txt", "\n".join(vocab) + "\n")
        write("train_summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
        write("README.md", MODEL_CARD.format(
            params=n_params, layers=hp["layers"], hidden=hp["hidden"], heads=hp["heads"], seq_len=hp["seq_len"],
            vocab=len(vocab), sentences=len(sentences), steps=steps, world=world, device=device_name,
            batch=hp["batch_size"] * world, loss=summary["final_loss"], acc=accuracy, weights=weights))
        print("pretrain: %d steps in %.1fs (%.2f steps/s), final loss %.4f, held-out masked accuracy %.3f" % (
            steps, t_end - t_start, steps_per_s, summary["final_loss"], accuracy), flush=True)
        print("pretrain: wrote %s, config.json, vocab.txt, README.md, train_summary.json, metrics.jsonl in %s" % (weights, out), flush=True)
    if world > 1:
        dist.barrier(device_ids=[device.index]) if cuda else dist.barrier()
        dist.destroy_process_group()
    return 0


MODEL_CARD = """# bert-small: a tiny BERT pre-trained with masked language modelling

- Architecture: {layers} pre-norm Transformer encoder layers, hidden size
  {hidden}, {heads} heads, feed-forward 4 x hidden, GELU, sequences of
  {seq_len} tokens, masked-LM head tied to the token embeddings;
  {params} parameters. Weights: `{weights}`; shapes and token ids:
  `config.json`; vocabulary: `vocab.txt` ({vocab} word-level tokens).
- Data: {sentences} generated English-like sentences (make_corpus.py),
  packed as [CLS] s1 [SEP] s2 [SEP] ...
- Objective: 15% of word tokens masked (80% [MASK], 10% random, 10% kept).
- Training: {steps} steps of AdamW on {world} process(es) ({device}),
  global batch {batch} sequences.
- Result: final training loss {loss}, held-out masked-token accuracy {acc:.3f}.

A demonstration of distributed pre-training; not a language model to use.
"""


if __name__ == "__main__":
    sys.exit(main())
