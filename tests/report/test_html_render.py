"""The HTML report renders in a real browser: headless Chromium (Debian
`chromium`) takes a screenshot of the fixture report — a PNG holding the
figures' colours (the green and red quadrant points, the yellow star, the
stage bars) — and its parsed DOM still holds the table and the four SVG
figures. With GREENTUNE_SCREENSHOT=PATH the screenshot is also copied there
(that is how docs/report-fixture.png is made)."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiment"))
import gtlib  # noqa: E402

check = gtlib.check
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    sys.exit("test_html_render: chromium is missing (Debian package chromium); run scripts/install-deps.sh")

tmp = tempfile.mkdtemp(prefix="greentune-html-")
db, html = os.path.join(tmp, "fixture.db"), os.path.join(tmp, "report.html")
subprocess.run([os.environ["GREENTUNE_FIXTURE_DB"], os.environ["GREENTUNE_REPORT_FIXTURE"], db], check=True)
subprocess.run([os.environ["GREENTUNE_BIN"], "report", db, "--out", html], check=True)


def chromium(*args):
    """One headless run with no network, no profile and no background services."""
    profile = tempfile.mkdtemp(prefix="profile-", dir=tmp)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + profile, *args, "file://" + html]
    return subprocess.run(cmd, capture_output=True, timeout=180, cwd=tmp)


def unfilter_sequential(kind, cur, prev, channels):
    """PNG's Average (3) and Paeth (4) filters: each byte needs the one
    before it, so they go byte by byte."""
    for i in range(len(cur)):
        a = cur[i - channels] if i >= channels else 0
        b = prev[i]
        if kind == 3:
            cur[i] = (cur[i] + (a + b) // 2) & 255
        else:
            c = prev[i - channels] if i >= channels else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    return cur


def read_png(path):
    """(width, height, pixels as an (height, width, 3) uint8 array) of an 8-bit
    RGB or RGBA PNG; the easy filters are vectorized, the rest done by hand."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), f"PNG depth {depth} color type {color}"
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, cur = raw[y, 0], raw[y, 1:]
        if kind == 0:
            row = cur.copy()
        elif kind == 1:   # Sub: a running sum per channel
            row = (np.cumsum(cur.reshape(width, channels), axis=0, dtype=np.int64) % 256).astype(np.uint8).ravel()
        elif kind == 2:   # Up
            row = cur + prev
        else:
            row = np.array(unfilter_sequential(kind, cur.tolist(), prev.tolist(), channels), dtype=np.uint8)
        out[y] = row
        prev = row
    return width, height, out.reshape(height, width, channels)[:, :, :3]


def test_screenshot_shows_the_figures():
    png = os.path.join(tmp, "report.png")
    r = chromium("--screenshot=" + png, "--window-size=1280,3000", "--hide-scrollbars")
    check(r.returncode == 0 and os.path.exists(png), f"chromium screenshot: {r.returncode} {r.stderr[-400:]}")
    if not os.path.exists(png):
        return
    check(os.path.getsize(png) > 50_000, f"a non-trivial page: {os.path.getsize(png)} bytes")
    width, height, pixels = read_png(png)
    check((width, height) == (1280, 3000), f"size {width}x{height}")
    packed = (pixels[:, :, 0].astype(np.int64) << 16) | (pixels[:, :, 1].astype(np.int64) << 8) | pixels[:, :, 2]
    keys, numbers = np.unique(packed, return_counts=True)
    counts = {(int(k) >> 16, (int(k) >> 8) & 255, int(k) & 255): int(n) for k, n in zip(keys, numbers)}
    colours = {"green point": (0x2e, 0x9e, 0x44), "red point": (0xd6, 0x45, 0x41),
               "yellow star": (0xf5, 0xc5, 0x18), "train bar": (0x76, 0xb7, 0xb2),
               "eval bar": (0xed, 0xc9, 0x48), "front point": (0x1f, 0x77, 0xb4)}
    for what, rgb in colours.items():
        check(counts.get(rgb, 0) >= 20, f"{what} {rgb}: {counts.get(rgb, 0)} pixels")
    white = counts.get((255, 255, 255), 0)
    check(white < 0.95 * width * height, f"mostly blank: {white} white pixels")
    if os.environ.get("GREENTUNE_SCREENSHOT"):
        shutil.copyfile(png, os.environ["GREENTUNE_SCREENSHOT"])


def test_dom_keeps_the_table_and_the_svg():
    r = chromium("--dump-dom")
    dom = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0 and "</html>" in dom, f"dump-dom: {r.returncode} {r.stderr[-400:]}")
    check(dom.count("<svg") == 4, f"svg elements: {dom.count('<svg')}")
    check(dom.count("<polygon") >= 2 + 2, "stars: the baseline, the best bundle, and the legend's")
    check(dom.count("<circle") >= 9, f"points: {dom.count('<circle')}")
    table = dom[dom.find('<table id="table1"'):]
    table = table[:table.find("</table>")]
    check(table.count("<tr") == 1 + 10, f"Table I rows: {table.count('<tr')}")
    check('<table id="bundles"' in dom, "the bundles table")


for test in [test_screenshot_shows_the_figures, test_dom_keeps_the_table_and_the_svg]:
    test()
    print("ok" if gtlib.failures == 0 else "after failures:", test.__name__)
if gtlib.failures == 0:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if gtlib.failures else 0)
