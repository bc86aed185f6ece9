"""`mpirun -n 2 greentune run`: data-parallel training on two ranks of this
machine follows the loss curve of one process with the same global batch
(step by step, within fp32 rounding) and ends in the same weights and
metrics; only rank 0 writes the checkpoint and the record; the record's
energy is each node measured once, summed over nodes, with the
communication as the task train/allreduce inside train.

The reference is the same run in one process: `train.data_parallel: true`
without mpirun (one rank: same per-step bookkeeping, no MPI), itself checked
to be exactly the plain single-process run. The same holds with the knobs
that change what a training step is (grad_accum, dynamic_batch)."""
import glob
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpilib import Checks, alone, close, load, mpirun, require_mpi, setup  # noqa: E402

require_mpi("test_data_parallel")
import numpy as np  # noqa: E402

c = Checks("test_data_parallel")


def weights(directory):
    """model.safetensors as {name: float32 array}, read here from the format
    (8-byte header length, JSON header, raw little-endian data)."""
    with open(os.path.join(directory, "model.safetensors"), "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        c.check(info["dtype"] == "F32", "%s: dtype %s" % (name, info["dtype"]))
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + lo:8 + n + hi], dtype="<f4").reshape(info["shape"])
    return out


# A global batch of 7: the 48 training documents make six batches of 7 and
# one of 6, split 3/4 and 3/3 between the ranks — unequal shards, whose losses
# must be weighted by their share of the batch to give the batch's mean.
d = setup("dp", epochs=10, batch=7)
tmp = os.path.join(d, "tmp")
os.mkdir(tmp)
env = dict(os.environ, TMPDIR=tmp)

rc, _, err = alone(["run", "pipeline.yaml", "-q", "--json", "plain.json"], d, env=env)
c.check(rc == 0, "plain run: exit %d: %s" % (rc, err[-800:]))
rc, _, err = alone(["run", "pipeline.yaml", "-q", "--set", "train.data_parallel=true", "--json", "one.json",
                    "--out", "model1"], d, env=env)
c.check(rc == 0, "one rank: exit %d: %s" % (rc, err[-800:]))
rc, out, err = mpirun(2, ["run", "pipeline.yaml", "--json", "two.json", "--out", "model2"], d, env=env)
c.check(rc == 0, "two ranks: exit %d: %s" % (rc, err[-2000:]))
plain, one, two = load(os.path.join(d, "plain.json")), load(os.path.join(d, "one.json")), \
    load(os.path.join(d, "two.json"))

# One rank through the data-parallel bookkeeping is the plain run, exactly.
c.check(one["train"]["epochs"] == plain["train"]["epochs"] or
        [e["loss"] for e in one["train"]["epochs"]] == [e["loss"] for e in plain["train"]["epochs"]],
        "one rank vs plain: epoch losses %r vs %r" % ([e["loss"] for e in one["train"]["epochs"]],
                                                      [e["loss"] for e in plain["train"]["epochs"]]))
c.check(one["metrics"]["confusion"] == plain["metrics"]["confusion"], "one rank vs plain: confusion")
c.check("parallel" not in plain, "a plain run has no parallel section")

# Two ranks: the same loss at every step, within fp32 rounding.
p1, p2 = one["parallel"], two["parallel"]
c.check(p1["ranks"] == 1 and p2["ranks"] == 2 and p2["nodes"] == 1, "ranks/nodes %r %r" % (
    (p1["ranks"], p1["nodes"]), (p2["ranks"], p2["nodes"])))
c.check(p2["shard_rows"] == [3, 4] and p2["global_batch"] == 7, "shards %r of %r" % (p2["shard_rows"],
                                                                                      p2["global_batch"]))
steps = one["train"]["steps"]
c.check(steps == 7 * 10 and len(p1["losses"]) == steps and len(p2["losses"]) == steps,
        "steps %d, losses %d and %d" % (steps, len(p1["losses"]), len(p2["losses"])))
worst = max((abs(a - b) for a, b in zip(p1["losses"], p2["losses"])), default=float("nan"))
c.check(all(close(a, b, 2e-5, 2e-6) for a, b in zip(p1["losses"], p2["losses"])),
        "per-step losses differ by up to %.3g: %r vs %r" % (worst, p1["losses"][:6], p2["losses"][:6]))
first, last = one["train"]["epochs"][0]["loss"], one["train"]["epochs"][-1]["loss"]
c.check(last < first - 0.05, "the model learned nothing: epoch losses %r to %r" % (first, last))
c.check(close(one["train"]["last_grad_norm"], two["train"]["last_grad_norm"], 1e-4, 1e-6),
        "gradient norm of the last step %r vs %r" % (one["train"]["last_grad_norm"],
                                                     two["train"]["last_grad_norm"]))
c.check(two["metrics"]["confusion"] == one["metrics"]["confusion"],
        "test confusion %r vs %r" % (two["metrics"]["confusion"], one["metrics"]["confusion"]))
# Each rank multiplies its shard's rows only; the record counts the job's.
c.check(two["train"]["matmul_flops"] == one["train"]["matmul_flops"] and one["train"]["matmul_flops"]["fp32"] > 0,
        "training FLOPs %r vs one process's %r" % (two["train"]["matmul_flops"], one["train"]["matmul_flops"]))
for e1, e2 in zip(one["train"]["epochs"], two["train"]["epochs"]):
    c.check(close(e1["val_loss"], e2["val_loss"], 1e-4, 1e-6), "validation loss (sharded inference) %r vs %r" % (
        e1["val_loss"], e2["val_loss"]))

# The checkpoint: written once, by rank 0, with the weights one process reaches.
w1, w2 = weights(os.path.join(d, "model1")), weights(os.path.join(d, "model2"))
c.check(sorted(w1) == sorted(w2), "tensor names differ")
# Except the attention's key bias: it adds q.b_k to every key's score for a
# query, which softmax ignores, so its true gradient is zero and what the
# backward pass computes is rounding noise, different for a sum over two
# shards; Adam scales any nonzero gradient up to steps of about lr, so that
# bias wanders apart (1.6e-4 seen in the sanitizer build) while every other
# weight agrees to about 1e-6.
noise_only = [k for k in w1 if k.endswith("attention.self.key.bias")]
c.check(len(noise_only) == 1, "key biases %r" % noise_only)
diff = max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1 if k not in noise_only)
c.check(diff < 1e-4, "weights differ from one process's by up to %g" % diff)
c.check(sorted(os.listdir(os.path.join(d, "model2"))) == ["config.json", "model.safetensors", "tokenizer.json"],
        "model2 holds %r" % os.listdir(os.path.join(d, "model2")))
c.check(not glob.glob(os.path.join(d, ".model2*")) and not os.listdir(tmp),
        "checkpoint directories left behind: %r %r" % (glob.glob(os.path.join(d, ".model2*")), os.listdir(tmp)))
c.check(two["checkpoint"] == "model2", "record's checkpoint %r" % two["checkpoint"])

# Only rank 0 writes: each rank is given its own --json and --out.
rc, _, err = mpirun(2, ["run", "pipeline.yaml", "-q", "--set", "train.epochs=1"], d,
                    per_rank='set -- "$@" --json rank$OMPI_COMM_WORLD_RANK.json --out out$OMPI_COMM_WORLD_RANK',
                    env=env)
c.check(rc == 0, "per-rank outputs: exit %d: %s" % (rc, err[-800:]))
c.check(os.path.exists(os.path.join(d, "rank0.json")) and os.path.isdir(os.path.join(d, "out0")),
        "rank 0 wrote no record or checkpoint")
c.check(not os.path.exists(os.path.join(d, "rank1.json")) and not os.path.exists(os.path.join(d, "out1")) and
        not glob.glob(os.path.join(d, ".out1*")), "rank 1 wrote files: %r" % sorted(os.listdir(d)))

# Energy on one node: measured once (rank 0's meter sees the whole machine),
# not once per rank; stages and other add up to the total.
nodes = p2["per_node"]
c.check(len(nodes) == 1 and nodes[0]["ranks"] == [0, 1] and nodes[0]["measured_by_rank"] == 0, "per_node %r" % [
    (n["node"], n["ranks"]) for n in nodes])
c.check(close(two["total"]["energy_j"], nodes[0]["total"]["energy_j"], 1e-9, 1e-9),
        "total %r is not the node's %r" % (two["total"]["energy_j"], nodes[0]["total"]["energy_j"]))
parts = sum(s["energy_j"] for s in two["stages"].values()) + two["other"]["energy_j"]
c.check(close(parts, two["total"]["energy_j"], 1e-6, 1e-9), "stages + other %r != total %r" % (
    parts, two["total"]["energy_j"]))
c.check(two["meter"] == "estimate" and two["estimated"] is True, "meter %r estimated %r" % (two["meter"],
                                                                                          two["estimated"]))
ranks = p2["per_rank"]
c.check(len(ranks) == 2 and all(r["allreduce_calls"] == steps and r["allreduce_s"] > 0 for r in ranks),
        "per_rank %r" % ranks)
c.check(close(p2["process_energy_j"], sum(r["process_energy_j"] for r in ranks), 1e-9, 1e-12),
        "the job's process share is not the sum of the ranks'")
task = two["energy"]["tasks"].get("train/allreduce")
c.check(task is not None and task.get("parent") == "train" and task["runs"] == steps,
        "train/allreduce task %r" % task)
comm = p2["communication"]
c.check(comm["task"] == "train/allreduce" and 0 < comm["duration_s"] <= two["stages"]["train"]["duration_s"] and
        0 <= comm["energy_j"] <= two["stages"]["train"]["energy_j"], "communication %r" % comm)
c.check(p2["allreduce"]["gradient_floats"] > 0 and p2["allreduce"]["buckets"] == 1 and
        p2["allreduce"]["calls"] == steps, "allreduce %r" % p2["allreduce"])

# The train stage's knobs that change what a step is: two micro-batches per
# step (grad_accum) and a batch that grows from 4 to 16 rows (dynamic_batch).
# Two ranks take the same steps as one process, micro-batch by micro-batch.
for knob in ("grad_accum=2", "dynamic_batch={start: 4, max: 16, growth: 2, every: 3}"):
    args = ["run", "pipeline.yaml", "-q", "--set", "train.epochs=3", "--knob", knob]
    rc1, _, err1 = alone(args + ["--set", "train.data_parallel=true", "--json", "k1.json"], d, env=env)
    rc2, _, err2 = mpirun(2, args + ["--json", "k2.json"], d, env=env)
    c.check(rc1 == 0 and rc2 == 0, "%s: exit %d and %d: %s %s" % (knob, rc1, rc2, err1[-400:], err2[-400:]))
    if rc1 or rc2:
        continue
    k1, k2 = load(os.path.join(d, "k1.json")), load(os.path.join(d, "k2.json"))
    l1, l2 = k1["parallel"]["losses"], k2["parallel"]["losses"]
    enough = len(l1) > k1["train"]["steps"] if knob.startswith("grad") else len(l1) > 0
    c.check(len(l1) == len(l2) and enough, "%s: %d and %d micro-batch losses over %d steps" % (
        knob, len(l1), len(l2), k1["train"]["steps"]))
    c.check(all(close(a, b, 2e-5, 2e-6) for a, b in zip(l1, l2)), "%s: losses %r vs %r" % (knob, l1[:6], l2[:6]))
    c.check(k1["train"]["batch_schedule"] == k2["train"]["batch_schedule"] and
            k1["metrics"]["confusion"] == k2["metrics"]["confusion"], "%s: schedule %r vs %r, confusion %r vs %r" % (
                knob, k1["train"]["batch_schedule"], k2["train"]["batch_schedule"], k1["metrics"]["confusion"],
                k2["metrics"]["confusion"]))
    if knob.startswith("dynamic"):
        c.check([row[1] for row in k2["train"]["batch_schedule"]] == [4, 8, 16], "dynamic_batch: schedule %r" % (
            k2["train"]["batch_schedule"]))

# Two nodes (played by the two ranks), each with its own meter: a host file
# reporting 10 W on one and 30 W on the other. Each node's energy is its power
# times its own duration; the job's is their sum, stage by stage.
for r, watts in ((0, 10), (1, 30)):
    with open(os.path.join(d, "power%d" % r), "w") as f:
        f.write("cpu %d W\n" % watts)
rc, _, err = mpirun(2, ["run", "pipeline.yaml", "-q", "--set", "train.epochs=2", "--json", "nodes.json"], d,
                    per_rank='export GREENTUNE_MPI_NODE=node$OMPI_COMM_WORLD_RANK\n'
                             'set -- "$@" --set system.meter=file:power$OMPI_COMM_WORLD_RANK', env=env)
c.check(rc == 0, "two nodes: exit %d: %s" % (rc, err[-800:]))
if rc == 0:
    rec = load(os.path.join(d, "nodes.json"))
    nodes = {n["node"]: n for n in rec["parallel"]["per_node"]}
    c.check(sorted(nodes) == ["node0", "node1"] and nodes["node1"]["ranks"] == [1], "nodes %r" % sorted(nodes))
    for name, watts in (("node0", 10), ("node1", 30)):
        n = nodes.get(name, {"total": {"energy_j": 0, "duration_s": 0}, "stages": {}})
        c.check(close(n["total"]["energy_j"], watts * n["total"]["duration_s"], 1e-3, 1e-6),
                "%s: %r J over %r s at %d W" % (name, n["total"]["energy_j"], n["total"]["duration_s"], watts))
    total = sum(n["total"]["energy_j"] for n in nodes.values())
    c.check(close(rec["total"]["energy_j"], total, 1e-9, 1e-9), "total %r != sum of nodes %r" % (
        rec["total"]["energy_j"], total))
    for stage in ("train", "eval", "save"):
        want = sum(n["stages"][stage]["energy_j"] for n in nodes.values())
        got = rec["stages"][stage]["energy_j"]
        longest = max(n["stages"][stage]["duration_s"] for n in nodes.values())
        c.check(close(got, want, 1e-9, 1e-9) and close(rec["stages"][stage]["duration_s"], longest, 1e-9, 1e-12),
                "%s: %r J / %r s, want the nodes' sum %r J and longest %r s" % (
                    stage, got, rec["stages"][stage]["duration_s"], want, longest))
    comm = sum(n["stages"]["train/allreduce"]["energy_j"] for n in nodes.values())
    c.check(comm > 0 and close(rec["parallel"]["communication"]["energy_j"], comm, 1e-9, 1e-12),
            "communication %r J, nodes' sum %r" % (rec["parallel"]["communication"]["energy_j"], comm))
    c.check(rec["estimated"] is False and rec["meter"].startswith("file"), "meter %r estimated %r" % (
        rec["meter"], rec["estimated"]))

# A failure on one rank ends every rank, and rank 0 says which rank and why,
# once: rank 1 is pointed at a data file that does not exist.
rc, out, err = mpirun(2, ["run", "pipeline.yaml", "-q"], d, env=env,
                      per_rank='[ "$OMPI_COMM_WORLD_RANK" = 1 ] && set -- "$@" --set data.path=gone.jsonl')
c.check(rc != 0, "a rank with a missing data file: exit %d" % rc)
lines = [x for x in err.splitlines() if "gone.jsonl" in x]
c.check(len(lines) == 1 and "rank 1 on" in lines[0], "the failure, once, naming rank 1: %r" % err[-1500:])

# A rank that reads other data: the ranks see it at the train stage and stop together.
with open(os.path.join(d, "data.jsonl")) as f:
    short = f.readlines()[:80]
with open(os.path.join(d, "short.jsonl"), "w") as f:
    f.writelines(short)
rc, out, err = mpirun(2, ["run", "pipeline.yaml", "-q"], d, env=env,
                      per_rank='[ "$OMPI_COMM_WORLD_RANK" = 1 ] && set -- "$@" --set data.path=short.jsonl')
c.check(rc == 1 and "same data" in err and "rank" in err, "ranks with other data: exit %d: %s" % (rc, err[-1500:]))

# train.data_parallel: false cannot be run by several ranks.
rc, out, err = mpirun(2, ["run", "pipeline.yaml", "-q", "--set", "train.data_parallel=false"], d, env=env)
c.check(rc != 0 and err.count("train.data_parallel is false") == 1, "data_parallel false: exit %d: %s" % (
    rc, err[-800:]))

sys.exit(c.close())
