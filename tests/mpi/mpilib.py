"""Shared pieces of the MPI tests: mpirun on this machine, the tiny pipeline
and data set of the pipeline tests, and reading records and stores back.

Every test here needs a greentune built with MPI; a build without it makes the
test report itself skipped (exit 77) with the reason, loudly. A build whose
configuration asked for MPI (GREENTUNE_MPI=ON) and a machine where mpirun
exists but the build lacks MPI are failures, not skips."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pipeline"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiment"))
from pipeline_util import BIN, SANITIZE, Checks, texts, workdir, write_jsonl  # noqa: E402,F401
from sweeplib import rows  # noqa: E402,F401

HAVE_MPI = os.environ.get("GREENTUNE_HAVE_MPI", "0") == "1"
MPIEXEC = os.environ.get("GREENTUNE_MPIEXEC") or shutil.which("mpirun") or "mpirun"

# One layer on 96 short texts; no dropout, so one process and several ranks
# compute the same function (dropout masks are drawn per rank's shard).
PIPELINE = """\
data: {format: jsonl, path: data.jsonl, split: [0.5, 0.25, 0.25], seed: 1}
tokenizer: {vocab_size: 120, min_frequency: 1}
model: {arch: bert, layers: 1, dim: 32, heads: 2, ffn: 64, max_len: 24, dropout: 0}
train: {epochs: %d, batch: %d, lr: 3.0e-3, seed: 1}
eval: {batch: 16}
system: {threads: 1, meter: estimate, interval_ms: 0}
"""


def require_mpi(name):
    """Exits 77 (skipped, with the reason) when this build has no MPI and
    none could be had; fails when MPI should be there."""
    if HAVE_MPI:
        return
    config = os.environ.get("GREENTUNE_MPI_CONFIG", "AUTO").upper()
    if config in ("ON", "1", "TRUE", "YES"):
        print("FAIL %s: the build was configured with GREENTUNE_MPI=ON but has no MPI" % name)
        sys.exit(1)
    if config in ("OFF", "0", "FALSE", "NO"):
        print("SKIPPED %s: *** this build was configured with -DGREENTUNE_MPI=OFF: the MPI scale-out "
              "is not built, so it is not tested ***" % name)
        sys.exit(77)
    if shutil.which("mpicc") or os.path.exists("/usr/include/x86_64-linux-gnu/openmpi/mpi.h"):
        print("FAIL %s: MPI is installed but this build did not find it — reconfigure (rm -rf build; make)" % name)
        sys.exit(1)
    print("SKIPPED %s: *** MPI is absent (no libopenmpi-dev: run `make deps`), so the MPI scale-out is "
          "neither built nor tested ***" % name)
    sys.exit(77)


def setup(name, epochs=6, batch=8, pairs=None):
    """A fresh directory with data.jsonl and pipeline.yaml; returns it."""
    d = workdir(name)
    write_jsonl(os.path.join(d, "data.jsonl"), texts() if pairs is None else pairs)
    with open(os.path.join(d, "pipeline.yaml"), "w") as f:
        f.write(PIPELINE % (epochs, batch))
    return d


def mpirun(n, args, cwd, extra=(), per_rank=None, timeout=240, env=None):
    """greentune ARGS on n ranks of this machine; per_rank is a shell snippet
    run before greentune in each rank (it sees $OMPI_COMM_WORLD_RANK), for
    settings that differ between ranks. Returns (exit code, stdout, stderr)."""
    cmd = [MPIEXEC, "--oversubscribe", "-n", str(n)] + list(extra)
    if per_rank:
        cmd += ["sh", "-c", per_rank + '\nexec "$0" "$@"', BIN] + list(args)
    else:
        cmd += [BIN] + list(args)
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, errors="replace",
                       env=env)
    return p.returncode, p.stdout, p.stderr


def alone(args, cwd, timeout=240, env=None):
    """greentune ARGS without mpirun."""
    p = subprocess.run([BIN] + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       errors="replace", env=env)
    return p.returncode, p.stdout, p.stderr


def finish(job, timeout, checks, what):
    """A Popen'd job's stderr once it has ended; killed, and a failure of
    checks, when it has not within timeout."""
    try:
        return job.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        job.kill()
        checks.check(False, "%s: the job did not end within %d s" % (what, timeout))
        return job.communicate()[1]


def load(path):
    with open(path) as f:
        return json.load(f)


def wait_for(predicate, timeout):
    end = time.time() + timeout
    while time.time() < end:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    return None


def close(a, b, rel, abs_tol):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + abs_tol
