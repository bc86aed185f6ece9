#!/usr/bin/python3
"""Writes the tiny data set fixtures of tests/fixtures/data/ (checked in; this
script documents exactly which bytes they hold and why):

  rfc4180.csv        CRLF records, a byte order mark, quoted separators,
                     doubled quotes, a field spanning lines, an empty quoted
                     field, blanks around a label, no final line break
  bigvul-mini.csv    BigVul's layout: unnamed index column, func_before /
                     func_after code in quoted multi-line fields, vul 0/1
  nonutf8.csv        five kinds of bytes that are not UTF-8
  devign-mini.jsonl  Devign's func / target, one object per line (a blank line)
  devign-mini.json   the same records as one JSON array (Devign's function.json)
  labels-*.jsonl     string labels (for a mapping) and booleans / 1.0
  textdir/           one sub-directory per class, a non-UTF-8 file, a hidden file
  spamassassin/      `make data`'s layout in miniature (a .txt copy is ignored)
  bigvul-splits/     split files listing bigvul-mini.csv's ids

    /usr/bin/python3 tests/data/make_data_fixtures.py
"""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "data")


def w(name, data):
    path = os.path.join(OUT, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def csv_files():
    w("rfc4180.csv",
      b'\xef\xbb\xbfid,text,label\r\n'
      b'a1,plain text,0\r\n'
      b'a2,"comma, inside",1\r\n'
      b'a3,"say ""hi"" twice",0\r\n'
      b'a4,"two\r\nlines\nand more",1\r\n'
      b'a5,"",0\r\n'
      b'a6,  spaced  , 1 \r\n'
      b'a7,"last, no newline",true')
    w("bigvul-mini.csv",
      ',CVE ID,func_before,func_after,vul\n'
      '0,CVE-2017-1000,"int f(char *s) {\n    char b[8];\n    strcpy(b, s);\n    return b[0];\n}",'
      '"int f(char *s) {\n    char b[8];\n    strncpy(b, s, 7);\n    b[7] = 0;\n    return b[0];\n}",1\n'
      '1,,"static int add(int a, int b) { return a + b; }","static int add(int a, int b) { return a + b; }",0\n'
      '2,,"void log_msg(const char *m) { printf(""%s\\n"", m); }",'
      '"void log_msg(const char *m) { printf(""%s\\n"", m); }",0\n'
      '3,CVE-2018-2000,"int idx(int *a, int i) { return a[i]; }",'
      '"int idx(int *a, int n, int i) { return i < n ? a[i] : -1; }",1\n'
      '4,,"int zero(void) { return 0; }","int zero(void) { return 0; }",0\n')
    # A lone 0xFF, an overlong 0xC0 0xAF, a truncated 3-byte sequence, a
    # surrogate 0xED 0xA0 0x80, Latin-1 "cafe" with 0xE9.
    w("nonutf8.csv",
      b'text,label\n'
      b'"ok \xc3\xa9 valid",0\n'
      b'"bad \xff byte",1\n'
      b'"overlong \xc0\xaf and truncated \xe2\x82",0\n'
      b'"surrogate \xed\xa0\x80 end",1\n'
      b'"latin-1 caf\xe9",0\n')


def json_files():
    devign = [
        {"project": "FFmpeg", "commit_id": "973b1a6", "target": 1,
         "func": "static int decode(AVCodecContext *avctx) {\n    int len = avctx->len;\n"
                 "    memcpy(buf, avctx->data, len);\n    return 0;\n}"},
        {"project": "qemu", "commit_id": "1a2b3c4", "target": 0, "func": "void cpu_reset(CPUState *s) { s->pc = 0; }"},
        {"project": "qemu", "commit_id": "5d6e7f8", "target": 0, "func": "int \"quoted\" = '\\t'; // unicode \u00e9 \u4e2d"},
        {"project": "FFmpeg", "commit_id": "9a8b7c6", "target": 1, "func": "uint8_t *p = av_malloc(n); p[n] = 0;"},
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in devign]
    w("devign-mini.jsonl", "\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n")
    w("devign-mini.json", json.dumps(devign, ensure_ascii=False, indent=1) + "\n")
    w("labels-strings.jsonl",
      '{"text": "win a prize now", "label": "spam"}\n'
      '{"text": "meeting at ten", "label": "ham"}\n'
      '{"text": "cheap pills", "label": "spam"}\n')
    w("labels-bools.jsonl",
      '{"text": "yes", "label": true}\n'
      '{"text": "no", "label": false}\n'
      '{"text": "one point oh", "label": 1.0}\n')


def directories():
    w("textdir/ham/001.txt", "Hi Bob, the meeting is at ten.\n")
    w("textdir/ham/002.txt", "Minutes of the meeting attached.\n")
    w("textdir/spam/001.txt", b"WIN \xff\xfe money now!!!\n")
    w("textdir/spam/.hidden", "not a sample\n")

    def msg(group, id_, text):
        w("spamassassin/%s/%s.0123456789abcdef.json" % (group, id_),
          json.dumps({"id": id_, "group": group, "checksum": {"type": "MD5", "value": "0123456789abcdef"},
                      "text": text}))
    msg("easy-ham-1", "00001", "From: alice@example.com\nSubject: lunch\n\nSee you at noon.")
    msg("easy-ham-1", "00002", "From: bob@example.com\nSubject: patch\n\nThe fix is attached.")
    msg("hard-ham-1", "00001", "From: news@shop.example\nSubject: Your order\n\n<html>Order 1234 shipped</html>")
    msg("spam-1", "00001", "From: win@prize.example\nSubject: WINNER!!!\n\nClaim your $1,000,000 prize now.")
    msg("spam-2", "00001", "From: pills@cheap.example\nSubject: cheap meds\n\nBuy now, 90% off.")
    w("spamassassin/easy-ham-1/00001.0123456789abcdef.txt", "ignored copy\n")
    w("bigvul-splits/train.txt", "# training ids\n0\n1\n2\n")
    w("bigvul-splits/val.txt", "4\n")
    w("bigvul-splits/test.txt", "3\n")


if __name__ == "__main__":
    csv_files()
    json_files()
    directories()
