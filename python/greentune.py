"""Mark the stages of a Python program for `greentune measure` (standard library only).

    import greentune
    with greentune.stage("train"):          # "start train" ... "stop train" on the control channel
        for step in range(steps):
            ...
            greentune.progress("train", (step + 1) / steps)   # a forecast of the stage's energy
    greentune.metrics({"f1": f1})           # lands under "metrics" in the result

Run it as `greentune measure -- python3 train.py`. Without greentune every call
does nothing, so the script runs unchanged on its own. Stages may nest. At each
boundary a GPU is synchronised first (torch.cuda.synchronize() when PyTorch has
initialised CUDA, or the `sync` callable you give), so queued kernels count in
the stage that queued them.
"""
import contextlib
import json
import os
import re
import sys

__all__ = ["enabled", "start", "stop", "progress", "stage", "metrics"]

_NAME = re.compile(r"^[A-Za-z0-9_.:/+-]{1,63}$")
_warned = False


def enabled():
    """True when running under `greentune measure` (or monitor --control)."""
    return bool(os.environ.get("GREENTUNE_CONTROL"))


def _check(name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"greentune: stage name {name!r}: use 1 to 63 of A-Z a-z 0-9 _ . : / + -")


def _send(line):
    global _warned
    path = os.environ.get("GREENTUNE_CONTROL")
    if not path:
        return
    try:
        # Non-blocking open: if greentune is gone there is no reader (ENXIO),
        # and a plain open would wait for one forever.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if not _warned:
            print(f"greentune: {path}: {e.strerror}; stage marks are lost", file=sys.stderr)
            _warned = True
        return
    try:
        os.set_blocking(fd, True)
        os.write(fd, (line + "\n").encode("ascii"))  # one write under PIPE_BUF: never interleaved
    finally:
        os.close(fd)


def _default_sync():
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    except Exception:  # an odd or partial torch: marking stages must not break the program
        pass


def start(name, sync=None):
    _check(name)
    if enabled():
        (sync or _default_sync)()
        _send(f"start {name}")


def stop(name, sync=None):
    _check(name)
    if enabled():
        (sync or _default_sync)()
        _send(f"stop {name}")


def progress(name, fraction):
    """fraction of the stage's work done, 0..1; 0 marks the end of a warm-up."""
    _check(name)
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"greentune: progress {fraction} of {name!r} is outside [0, 1]")
    if enabled():
        _send(f"progress {name} {fraction:.6g}")


@contextlib.contextmanager
def stage(name, sync=None):
    """A stage that ends however the block ends (an exception too)."""
    start(name, sync)
    try:
        yield
    finally:
        stop(name, sync)


def metrics(values):
    """Writes a dict of metrics to $GREENTUNE_METRICS (it lands under "metrics")."""
    path = os.environ.get("GREENTUNE_METRICS")
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(values, f)
    os.replace(tmp, path)
