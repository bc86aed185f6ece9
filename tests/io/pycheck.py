"""The few lines every Python test here shares: checks that record failures and
go on (so one run shows every failure), and the exit status at the end."""
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def summary():
    """Prints the outcome; returns the process exit status."""
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("all checks passed")
    return 0
