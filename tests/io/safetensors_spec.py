"""A small, independent Python implementation of the safetensors format, written
from the format description (not from greentune's C code), for parity tests and
for generating fixtures.

Layout: u64 little-endian header length N, N bytes of UTF-8 JSON (an object,
padded with spaces), then the byte buffer. The object maps tensor names to
{"dtype", "shape", "data_offsets": [begin, end)} (offsets into the buffer) and
may hold "__metadata__": {str: str}. The reference writer orders tensors by
dtype alignment (largest first), then by name, and pads the header to 8 bytes.
"""
import json
import struct

# (name, bits per element), in the reference's order of increasing alignment.
DTYPES = [
    ("BOOL", 8), ("F4", 4), ("F6_E2M3", 6), ("F6_E3M2", 6), ("U8", 8), ("I8", 8),
    ("F8_E5M2", 8), ("F8_E4M3", 8), ("F8_E8M0", 8), ("F8_E4M3FNUZ", 8), ("F8_E5M2FNUZ", 8),
    ("I16", 16), ("U16", 16), ("F16", 16), ("BF16", 16), ("I32", 32), ("U32", 32),
    ("F32", 32), ("C64", 64), ("F64", 64), ("I64", 64), ("U64", 64),
]
RANK = {name: i for i, (name, _) in enumerate(DTYPES)}
BITS = dict(DTYPES)


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def nbytes(dtype, shape):
    bits = numel(shape) * BITS[dtype]
    assert bits % 8 == 0, "sub-byte tensor that does not fill whole bytes"
    return bits // 8


def serialize(tensors, metadata=None):
    """tensors: {name: (dtype, shape, data_bytes)} -> the file's bytes."""
    order = sorted(tensors, key=lambda name: (-RANK[tensors[name][0]], name.encode("utf-8")))
    header = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name in order:
        dtype, shape, data = tensors[name]
        assert len(data) == nbytes(dtype, shape), name
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(tensors[n][2] for n in order)


def raw_file(header_text, buffer=b"", length=None):
    """A file with a given header text (str or bytes) and buffer, for hostile
    fixtures; length overrides the declared header length."""
    if isinstance(header_text, str):
        header_text = header_text.encode("utf-8")
    n = len(header_text) if length is None else length
    return struct.pack("<Q", n) + header_text + buffer


def deserialize(blob):
    """The file's bytes -> ({name: (dtype, shape, data_bytes)}, metadata); raises
    ValueError for anything the format does not allow."""
    if len(blob) < 8:
        raise ValueError("too short")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > 100_000_000 or 8 + n > len(blob):
        raise ValueError("bad header length")
    text = blob[8:8 + n]
    if not text.startswith(b"{"):
        raise ValueError("header does not start with {")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    header = json.loads(text.decode("utf-8"), object_pairs_hook=no_duplicates)
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("metadata values must be strings")
    buffer = blob[8 + n:]
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    expected_begin = 0
    tensors = {}
    for name, info in entries:
        begin, end = info["data_offsets"]
        if begin != expected_begin or end < begin:
            raise ValueError("offsets not contiguous: %s" % name)
        if end - begin != nbytes(info["dtype"], info["shape"]):
            raise ValueError("size mismatch: %s" % name)
        tensors[name] = (info["dtype"], list(info["shape"]), buffer[begin:end])
        expected_begin = end
    if expected_begin != len(buffer):
        raise ValueError("buffer not fully covered")
    return tensors, metadata
