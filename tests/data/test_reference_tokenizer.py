#!/usr/bin/python3
"""The committed expected ids (tests/fixtures/tokenizers/expected.json) are what
the Python reference produces today: the reference cannot drift away from the
file the C parity test compares against. Regenerate with
    /usr/bin/python3 tests/data/reference_tokenizer.py --write-expected
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_tokenizer  # noqa: E402


def main():
    path = os.path.join(reference_tokenizer.FIXTURES, "expected.json")
    with open(path, encoding="utf-8") as f:
        committed = f.read()
    fresh = reference_tokenizer.expected_text()
    if fresh != committed:
        for n, (a, b) in enumerate(zip(fresh.splitlines(), committed.splitlines()), 1):
            if a != b:
                print("expected.json line %d differs:\n  reference: %s\n  committed: %s" % (n, a[:200], b[:200]))
                break
        else:
            print("expected.json differs in length from the reference's output")
        print("regenerate with: /usr/bin/python3 tests/data/reference_tokenizer.py --write-expected")
        return 1
    cases = reference_tokenizer.run_cases()
    print("reference reproduces expected.json: %d cases, %d texts each" % (len(cases), len(cases[0]["ids"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
