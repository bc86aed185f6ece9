"""Parity of greentune's safetensors reader and writer with an independent Python
implementation of the format (safetensors_spec.py) and with PyTorch's dtypes:

- a file written in Python (the reference writer's conventions, PyTorch tensors'
  bytes) is read by the C reader: same names, dtypes, shapes, offsets, bytes, and
  the fp32 values the C reader converts to equal PyTorch's conversions;
- the C writer, given the same tensors, produces the same file byte for byte, and
  the Python reader reads it back;
- the C fp32 -> bf16/f16 conversions round exactly as PyTorch does.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pycheck import check, summary  # noqa: E402
from safetensors_spec import deserialize, serialize  # noqa: E402

TOOL = os.environ["GREENTUNE_ST_TOOL"]


def tool(*args):
    result = subprocess.run([TOOL, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit("st_tool %s failed: %s" % (" ".join(args), result.stderr))
    return result.stdout


TORCH_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def tensor_bytes(t):
    # bf16 has no numpy dtype: view its bits as int16 (same bytes, little-endian).
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.contiguous().numpy().tobytes()


def make_tensors():
    g = torch.Generator().manual_seed(7)
    tensors = {}
    shapes = [[3, 4], [5], [2, 1, 3], [], [0, 3]]
    for i, (name, dtype) in enumerate(TORCH_DTYPES.items()):
        shape = shapes[i % len(shapes)]
        if dtype.is_floating_point:
            t = torch.randn(shape, generator=g, dtype=torch.float32).mul(100).to(dtype)
        elif dtype == torch.bool:
            t = torch.randint(0, 2, shape, generator=g).to(torch.bool)
        else:
            t = torch.randint(-100 if dtype != torch.uint8 else 0, 100, shape, generator=g).to(dtype)
        tensors["encoder.layer.%d.%s.weight" % (i, name.lower())] = (name, shape, tensor_bytes(t))
    # Dtypes PyTorch 1.13 lacks: raw bytes of the right size.
    tensors["extra.u16"] = ("U16", [3], bytes(range(6)))
    tensors["extra.u32"] = ("U32", [2], bytes(range(8)))
    tensors["extra.f8"] = ("F8_E4M3", [4], bytes([1, 2, 3, 4]))
    tensors["extra.f4"] = ("F4", [6], bytes([0x12, 0x34, 0x56]))
    tensors["z.unicode.\u00e9\u4e2d"] = ("F32", [1], struct.pack("<f", 1.5))
    return tensors


def torch_f32(dtype, shape, data):
    t = torch.frombuffer(bytearray(data), dtype=TORCH_DTYPES[dtype]) if data else torch.zeros(0)
    return t.to(torch.float32).numpy().tobytes()


def test_c_reads_python_file(path, tensors, metadata):
    dump = json.loads(tool("dump", path))
    check(dump["metadata"] == metadata, "metadata read back: %r" % dump["metadata"])
    by_name = {t["name"]: t for t in dump["tensors"]}
    check(set(by_name) == set(tensors), "tensor names: %r" % sorted(by_name))
    for name, (dtype, shape, data) in tensors.items():
        t = by_name.get(name)
        if t is None:
            continue
        check(t["dtype"] == dtype, "%s dtype %s" % (name, t["dtype"]))
        check(t["shape"] == shape, "%s shape %r" % (name, t["shape"]))
        check(bytes.fromhex(t["data"]) == data, "%s bytes" % name)
        check(t["end"] - t["begin"] == len(data), "%s offsets" % name)
        if dtype in ("F32", "F64", "F16", "BF16"):
            check(bytes.fromhex(t.get("f32", "")) == torch_f32(dtype, shape, data), "%s fp32 values" % name)
        else:
            check("f32" not in t, "%s: a non-float dtype was converted" % name)
    # The C reader lists tensors in file order, which is the Python writer's order.
    offsets = [t["begin"] for t in dump["tensors"]]
    check(offsets == sorted(offsets), "tensors in offset order")


def test_c_writer_matches_python_writer(path, out, expected):
    tool("copy", path, out)
    with open(out, "rb") as f:
        written = f.read()
    check(written == expected, "C writer output differs from the Python writer's (%d vs %d bytes)"
          % (len(written), len(expected)))
    tensors, metadata = deserialize(written)
    check(metadata == {"format": "pt", "note": "made in Python"}, "Python reads C's metadata")
    check(len(tensors) == len(make_tensors()), "Python reads every tensor C wrote")


def special_values():
    f32 = np.float32
    values = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.0, 65520.0, 1e10, -1e10, 1e-10, 2.0 ** -24, 2.0 ** -25,
              3 * 2.0 ** -26, 2.0 ** -14, 1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11,
              float("inf"), float("-inf"), 3.0e38, -3.4028235e38, 1.17549435e-38, 1e-45]
    rng = np.random.default_rng(3)
    # Random bit patterns cover every exponent, plus random normals of moderate size.
    bits = rng.integers(0, 2 ** 32, size=20000, dtype=np.uint64).astype(np.uint32)
    randoms = bits.view(np.float32)
    randoms = randoms[~np.isnan(randoms)]
    return np.concatenate([np.array(values, dtype=f32), randoms, rng.standard_normal(5000).astype(f32)])


def test_conversions_match_torch(tmp):
    source = special_values()
    src_path, out_path = os.path.join(tmp, "source.safetensors"), os.path.join(tmp, "converted.safetensors")
    with open(src_path, "wb") as f:
        f.write(serialize({"source": ("F32", [len(source)], source.tobytes())}))
    tool("convert", src_path, out_path)
    with open(out_path, "rb") as f:
        tensors, _ = deserialize(f.read())
    t = torch.from_numpy(source.copy())
    expect_bf16 = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
    expect_f16 = t.to(torch.float16).numpy().tobytes()
    for name, expect in (("bf16", expect_bf16), ("f16", expect_f16)):
        got = tensors[name][2]
        a = np.frombuffer(got, dtype=np.uint16)
        b = np.frombuffer(expect, dtype=np.uint16)
        diff = np.nonzero(a != b)[0]
        check(len(diff) == 0, "%s: %d of %d values round differently from torch, first: %s" % (
            name, len(diff), len(a),
            ["%r -> %04x (torch %04x)" % (float(source[i]), a[i], b[i]) for i in diff[:3]]))
    # NaN: torch gives the canonical quiet NaN for bf16; f16 keeps sign and quiets.
    nan_src = os.path.join(tmp, "nan.safetensors")
    with open(nan_src, "wb") as f:
        f.write(serialize({"source": ("F32", [2], np.array([np.nan, -np.nan], dtype=np.float32).tobytes())}))
    tool("convert", nan_src, out_path)
    with open(out_path, "rb") as f:
        tensors, _ = deserialize(f.read())
    bf = np.frombuffer(tensors["bf16"][2], dtype=np.uint16)
    h = np.frombuffer(tensors["f16"][2], dtype=np.uint16)
    check(all((v & 0x7FC0) == 0x7FC0 for v in bf), "bf16 NaN stays NaN: %r" % bf)
    check(all((v & 0x7E00) == 0x7E00 for v in h), "f16 NaN stays NaN: %r" % h)


def main():
    tensors = make_tensors()
    metadata = {"format": "pt", "note": "made in Python"}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "python.safetensors")
        expected = serialize(tensors, metadata)
        with open(path, "wb") as f:
            f.write(expected)
        test_c_reads_python_file(path, tensors, metadata)
        test_c_writer_matches_python_writer(path, os.path.join(tmp, "c.safetensors"), expected)
        test_conversions_match_torch(tmp)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
