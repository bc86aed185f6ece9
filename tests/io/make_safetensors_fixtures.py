#!/usr/bin/env python3
"""Writes tests/fixtures/safetensors/: two small valid files and one hostile file
per failure mode the reader must report, plus EXPECTED (file <TAB> a phrase the
one-line error must contain). Pure Python, no dependencies; the files are
checked in (they double as fuzzing seeds), so run this only to change them:

    python3 tests/io/make_safetensors_fixtures.py
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_spec import raw_file, serialize  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "safetensors")


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def entry(name, dtype, shape, begin, end):
    return '"%s":{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}' % (
        name, dtype, str(list(shape)).replace(" ", ""), begin, end)


def header(*entries):
    return "{" + ",".join(entries) + "}"


VALID = {
    "tiny.safetensors": serialize({
        "embeddings.weight": ("F32", [3, 2], f32(0.5, -1.0, 2.0, 0.25, 3.0, -4.0)),
        "embeddings.bias": ("BF16", [2], struct.pack("<2H", 0x3F80, 0xC000)),
        "layer.0.scale": ("F16", [], struct.pack("<H", 0x3C00)),
        "position_ids": ("I64", [1, 3], struct.pack("<3q", 0, 1, 2)),
        "mask": ("BOOL", [4], bytes([1, 0, 1, 1])),
        "empty": ("F32", [0, 4], b""),
    }, {"format": "pt", "producer": "greentune fixtures"}),
    "empty.safetensors": serialize({}),
}

# name: (file bytes, phrase of the expected error)
HOSTILE = {
    "short.safetensors": (b"\x10\x00\x00", "too short"),
    "header-past-end.safetensors": (raw_file("{}", length=1000), "runs past the end of the file"),
    "header-too-large.safetensors": (struct.pack("<Q", 1 << 40) + b"{}", "over the 100000000-byte limit"),
    "not-an-object.safetensors": (raw_file("[1,2,3] "), "does not start with '{'"),
    "bad-json.safetensors": (raw_file('{"a":{"dtype":'), "not valid JSON"),
    "trailing-garbage.safetensors": (raw_file('{} x'), "not valid JSON"),
    "deep-nesting.safetensors": (raw_file('{"a":' + "[" * 3000 + "]" * 3000 + "}"), "not valid JSON"),
    "bad-utf8.safetensors": (raw_file(b'{"\xff\xfe":{}}'), "not valid UTF-8"),
    "nul-in-header.safetensors": (raw_file(b'{"a\x00":{}}'), "NUL byte"),
    "unknown-dtype.safetensors": (raw_file(header(entry("w", "F33", [1], 0, 4)), f32(1)), "unknown dtype"),
    "entry-not-object.safetensors": (raw_file('{"w":5}'), "entry is not an object"),
    "missing-fields.safetensors": (raw_file('{"w":{"dtype":"F32"}}'), "needs \"dtype\""),
    "shape-mismatch.safetensors": (raw_file(header(entry("w", "F32", [2, 2], 0, 12)), f32(1, 2, 3)),
                                   "hold 12 bytes, but F32 with 4 values needs 16"),
    "negative-dim.safetensors": (raw_file(header(entry("w", "F32", [-1], 0, 4)), f32(1)),
                                 "shape[0] is not a non-negative integer"),
    "fractional-dim.safetensors": (raw_file(header(entry("w", "F32", [1.5], 0, 4)), f32(1)),
                                   "shape[0] is not a non-negative integer"),
    "too-many-dims.safetensors": (raw_file(header(entry("w", "U8", [1] * 33, 0, 1)), b"\x01"),
                                  "more than 32 dimensions"),
    "shape-overflow.safetensors": (raw_file(header(entry("w", "F32", [1 << 32, 1 << 32, 16], 0, 4)), f32(1)),
                                   "overflows 64 bits"),
    "subbyte-partial.safetensors": (raw_file(header(entry("w", "F4", [3], 0, 2)), b"\x00\x00"),
                                    "do not fill whole bytes"),
    "offsets-reversed.safetensors": (raw_file(header(entry("w", "U8", [0], 4, 0)), b"\x00" * 4),
                                     "end before they begin"),
    "offsets-three.safetensors": (raw_file('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}', b"\x00"),
                                  "not a pair of non-negative integers"),
    "offsets-out-of-range.safetensors": (raw_file(header(entry("w", "F32", [4], 0, 16)), f32(1, 2)),
                                         "run past the data buffer"),
    "overlap.safetensors": (raw_file(header(entry("a", "F32", [2], 0, 8), entry("b", "F32", [2], 4, 12)),
                                     f32(1, 2, 3)), "overlap"),
    "hole.safetensors": (raw_file(header(entry("a", "F32", [1], 0, 4), entry("b", "F32", [1], 8, 12)),
                                  f32(1, 2, 3)), "belong to no tensor"),
    "not-from-zero.safetensors": (raw_file(header(entry("a", "F32", [1], 4, 8)), f32(1, 2)), "belong to no tensor"),
    "trailing-bytes.safetensors": (raw_file(header(entry("a", "F32", [1], 0, 4)), f32(1, 2)),
                                   "last 4 bytes of the file belong to no tensor"),
    "duplicate-name.safetensors": (raw_file(header(entry("a", "F32", [1], 0, 4), entry("a", "F32", [1], 4, 8)),
                                            f32(1, 2)), "appears twice"),
    "metadata-not-string.safetensors": (raw_file('{"__metadata__":{"epoch":1}}'), "is not a string"),
    "metadata-duplicate-key.safetensors": (raw_file('{"__metadata__":{"k":"a","k":"b"}}'),
                                           "__metadata__ key \"k\" appears twice"),
    "metadata-twice.safetensors": (raw_file('{"__metadata__":{},"__metadata__":{}}'), "__metadata__ appears twice"),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, blob in VALID.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)
    lines = []
    for name, (blob, phrase) in sorted(HOSTILE.items()):
        path = os.path.join(OUT, "bad", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(blob)
        lines.append("%s\t%s\n" % (name, phrase))
    with open(os.path.join(OUT, "bad", "EXPECTED"), "w") as f:
        f.write("# file<TAB>phrase the reader's one-line error must contain (make_safetensors_fixtures.py)\n")
        f.writelines(lines)


if __name__ == "__main__":
    main()
