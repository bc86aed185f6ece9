"""The sweep's database gone wrong gives one clear line and exit status 1,
never a crash and never a write into someone else's file: a file that is not
a database, a corrupted one, another program's SQLite file, one locked by
another process, and an experiment file edited after its runs were stored."""
import os
import sqlite3
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweeplib import Checks, run, runs, setup  # noqa: E402

c = Checks("test_sweep_db")

EXPERIMENT = "name: db\npipeline: pipeline.yaml\nvariants: [{name: V0}]\n"


def one_line(what, rc, err, words):
    lines = err.strip().splitlines()
    c.check(rc == 1, "%s: exit %d, want 1: %r" % (what, rc, err))
    c.check(len(lines) == 1, "%s: %d lines: %r" % (what, len(lines), err))
    for w in words:
        c.check(w in err, "%s: %r not in %r" % (what, w, err))


d, path = setup("db", EXPERIMENT, epochs=2)

# Not a database at all.
junk = os.path.join(d, "junk.db")
with open(junk, "wb") as f:
    f.write(b"this is a text file, not SQLite\n" * 200)
rc, out, err = run(["sweep", path, "--db", junk, "-q"])
one_line("junk", rc, err, ["junk.db", "not a greentune database, or corrupted"])
with open(junk, "rb") as f:
    c.check(f.read().startswith(b"this is a text file"), "junk: the file was changed")

# Another program's SQLite file.
other = os.path.join(d, "other.db")
con = sqlite3.connect(other)
con.execute("CREATE TABLE t (x)")
con.commit()
con.close()
rc, out, err = run(["sweep", path, "--db", other, "-q"])
one_line("other", rc, err, ["other.db", "not greentune's"])

# A real store, then damaged in the middle.
good = os.path.join(d, "good.db")
rc, out, err = run(["sweep", path, "--db", good, "-q"])
c.check(rc == 0, "good: exit %d: %s" % (rc, err))
con = sqlite3.connect(good)
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
con.close()
size = os.path.getsize(good)
with open(good, "r+b") as f:
    f.seek(size // 2)
    f.write(b"\xff" * min(4096, size // 2))
rc, out, err = run(["sweep", path, "--db", good, "-q"])
one_line("corrupted", rc, err, ["good.db", "corrupted"])
rc, out, err = run(["report", good])
one_line("corrupted report", rc, err, ["good.db", "corrupted"])

# Locked by another process for longer than the busy timeout (5 s).
locked = os.path.join(d, "locked.db")
rc, out, err = run(["sweep", path, "--db", locked, "-q"])
c.check(rc == 0, "locked: first sweep %d: %s" % (rc, err))
holder = sqlite3.connect(locked, timeout=0, check_same_thread=False)
holder.execute("BEGIN EXCLUSIVE")
release = threading.Timer(30, holder.rollback)  # never hangs the test for good
release.start()
rc, out, err = run(["sweep", path, "--db", locked, "-q", "--retry-failed"])
holder.rollback()
release.cancel()
holder.close()
one_line("locked", rc, err, ["locked.db", "locked by another process"])

# The experiment file edited after its runs were stored: refused, runs kept.
fresh = os.path.join(d, "fresh.db")
rc, out, err = run(["sweep", path, "--db", fresh, "-q"])
with open(path, "a") as f:
    f.write("repeats: 2\n")
rc, out, err = run(["sweep", path, "--db", fresh, "-q"])
one_line("edited", rc, err, ["different experiment file", "use another --db, or rename the experiment"])
c.check(len(runs(fresh)) == 1, "edited: runs were added under the old experiment")

# A directory where the database should be.
rc, out, err = run(["sweep", path, "--db", d, "-q"])
c.check(rc == 2 and "is not a file name" in err, "directory as --db: %d %r" % (rc, err))

sys.exit(c.close())
