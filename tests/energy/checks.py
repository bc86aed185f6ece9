"""Shared by the energy area's Python tests: a check that records a failure
and goes on (so one run shows every failure), the exit that reports them, and
an atomic file write (a reader never sees half a value, as with sysfs)."""
import os
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def write_atomic(path, text):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def finish():
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    sys.exit(1 if failures else 0)
