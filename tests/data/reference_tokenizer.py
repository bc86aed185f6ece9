#!/usr/bin/python3
"""An independent reference for greentune's tokenizers: the Hugging Face
tokenizer.json pipeline for the components greentune supports, written in
plain Python from the published algorithms (BERT's BasicTokenizer and
WordpieceTokenizer, GPT-2's byte-level BPE, the `tokenizers` documentation of
BertNormalizer, ByteLevel, added tokens and TemplateProcessing) and never from
greentune's C code. Unicode facts come from Python's unicodedata and the
`regex` module (Debian: python3-regex), not from greentune's tables.

How tests/fixtures/tokenizers/expected.json was generated:

    /usr/bin/python3 tests/data/reference_tokenizer.py --write-expected

It reads tests/fixtures/tokenizers/cases.json (which tokenizer files, texts
file and max_len values to run) and writes, for every case, the ids of every
text. tests/data/test_reference_tokenizer.py reruns the reference and fails if
it no longer produces the committed file, and tests/data/test_tokenizer_parity.c
checks that greentune's C tokenizers produce the same ids. The expected ids were
also cross-checked once against Hugging Face `tokenizers` 0.23.2 (its Node
binding, `Tokenizer.fromFile(...).encode(text)`), which agreed on every case.

Other use (the tests run it on tokenizers greentune trains):
    reference_tokenizer.py TOKENIZER_JSON TEXTS_JSON [--max-len N]   prints the ids as JSON
"""
import argparse
import json
import os
import sys
import unicodedata

import regex

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "tokenizers")

WHITESPACE = regex.compile(r"\p{White_Space}")
GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
ASCII_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def is_space(ch):
    return WHITESPACE.match(ch) is not None


# --- normalizers -----------------------------------------------------------

def is_cjk(ch):
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B920 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def lower_each(text):
    # One character at a time, as Rust's char::to_lowercase: no final-sigma rule.
    return "".join(ch.lower() for ch in text)


def strip_marks(text):
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def bert_normalize(cfg, text):
    if cfg.get("clean_text", True):
        out = []
        for ch in text:
            if ch in ("\x00", "\ufffd"):
                continue
            # "Other" as the `tokenizers` crate tests it: control, format and
            # private use; unassigned code points are kept.
            if ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf", "Co"):
                continue
            out.append(" " if is_space(ch) else ch)
        text = "".join(out)
    if cfg.get("handle_chinese_chars", True):
        text = "".join(" %s " % ch if is_cjk(ch) else ch for ch in text)
    lowercase = cfg.get("lowercase", True)
    strip = cfg.get("strip_accents")
    if strip is None:
        strip = lowercase
    if strip:
        text = strip_marks(unicodedata.normalize("NFD", text))
    if lowercase:
        text = lower_each(text)
    return text


def make_normalizer(cfg):
    if cfg is None:
        return lambda text: text
    kind = cfg["type"]
    if kind == "Sequence":
        steps = [make_normalizer(c) for c in cfg["normalizers"]]

        def run(text):
            for step in steps:
                text = step(text)
            return text
        return run
    if kind == "BertNormalizer":
        return lambda text: bert_normalize(cfg, text)
    if kind in ("NFC", "NFD"):
        return lambda text: unicodedata.normalize(kind, text)
    if kind == "Lowercase":
        return lower_each
    if kind == "StripAccents":
        return strip_marks
    raise ValueError("unsupported normalizer " + kind)


# --- pre-tokenizers --------------------------------------------------------

def bert_split(text):
    words, current = [], ""
    for ch in text:
        if is_space(ch):
            if current:
                words.append(current)
            current = ""
        elif ch in ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P"):
            if current:
                words.append(current)
            words.append(ch)
            current = ""
        else:
            current += ch
    if current:
        words.append(current)
    return words


def make_pre_tokenizer(cfg):
    """Returns (split function, byte_level, add_prefix_space)."""
    if cfg is None:
        return (lambda text: [text] if text else []), False, False
    kind = cfg["type"]
    if kind == "BertPreTokenizer":
        return bert_split, False, False
    if kind == "WhitespaceSplit":
        return (lambda text: [w for w in WHITESPACE.split(text) if w]), False, False
    if kind == "ByteLevel":
        if cfg.get("use_regex", True):
            split = GPT2_PATTERN.findall
        else:
            split = (lambda text: [text] if text else [])
        return split, True, cfg.get("add_prefix_space", True)
    raise ValueError("unsupported pre_tokenizer " + kind)


def bytes_to_unicode():
    """GPT-2's table: printable bytes keep their character, the others are
    given the code points 256, 257, ... in byte order."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
            + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHARS = bytes_to_unicode()


# --- models ----------------------------------------------------------------

class WordPiece:
    def __init__(self, cfg):
        self.vocab = cfg["vocab"]
        self.unk = cfg.get("unk_token", "[UNK]")
        self.prefix = cfg.get("continuing_subword_prefix", "##")
        self.max_chars = cfg.get("max_input_chars_per_word", 100)

    def word_ids(self, word):
        # BERT's WordpieceTokenizer: longest match first, left to right.
        if len(word) > self.max_chars:
            return [self.vocab[self.unk]]
        pieces, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end]
                if start > 0:
                    piece = self.prefix + piece
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return [self.vocab[self.unk]]
            pieces.append(self.vocab[found])
            start = end
        return pieces


class BPE:
    def __init__(self, cfg, byte_level):
        self.vocab = cfg["vocab"]
        self.byte_level = byte_level
        self.ranks = {}
        for rank, merge in enumerate(cfg["merges"]):
            pair = tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge)
            self.ranks[pair] = rank
        self.unk = cfg.get("unk_token")
        self.fuse_unk = cfg.get("fuse_unk", False)
        self.ignore_merges = cfg.get("ignore_merges", False)

    def word_ids(self, word):
        if self.byte_level:
            word = "".join(BYTE_CHARS[b] for b in word.encode("utf-8"))
        if self.ignore_merges and word in self.vocab:
            return [self.vocab[word]]
        symbols = []
        for ch in word:
            if ch in self.vocab:
                symbols.append(ch)
            elif self.unk is not None and not (self.fuse_unk and symbols and symbols[-1] is None):
                symbols.append(None)  # stands for the unknown token
        # GPT-2's loop: merge every occurrence of the best-ranked pair, repeat.
        while len(symbols) > 1:
            pairs = [(a, b) for a, b in zip(symbols, symbols[1:]) if a is not None and b is not None]
            ranked = [p for p in pairs if p in self.ranks]
            if not ranked:
                break
            best = min(ranked, key=lambda p: self.ranks[p])
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(best[0] + best[1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return [self.vocab[self.unk] if s is None else self.vocab[s] for s in symbols]


# --- the tokenizer ---------------------------------------------------------

class Tokenizer:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
        model = spec["model"]
        self.normalize = make_normalizer(spec.get("normalizer"))
        self.split, byte_level, self.prefix_space = make_pre_tokenizer(spec.get("pre_tokenizer"))
        if model["type"] == "WordPiece":
            self.model = WordPiece(model)
        elif model["type"] == "BPE":
            self.model = BPE(model, byte_level)
        else:
            raise ValueError("unsupported model " + model["type"])
        self.added = spec.get("added_tokens") or []
        for token in self.added:
            token.setdefault("normalized", not token.get("special", False))
            token["pattern"] = (self.normalize(token["content"]) if token["normalized"]
                                else token["content"])
        self.prefix, self.suffix = self.template(spec.get("post_processor"))

    def template(self, cfg):
        if cfg is None or cfg["type"] == "ByteLevel":
            return [], []
        if cfg["type"] in ("BertProcessing", "RobertaProcessing"):
            return [cfg["cls"][1]], [cfg["sep"][1]]
        if cfg["type"] == "TemplateProcessing":
            before, after, seen = [], [], False
            for piece in cfg["single"]:
                if "Sequence" in piece:
                    seen = True
                    continue
                ids = cfg["special_tokens"][piece["SpecialToken"]["id"]]["ids"]
                (after if seen else before).extend(ids)
            return before, after
        raise ValueError("unsupported post_processor " + cfg["type"])

    def split_added(self, text, normalized):
        """[(text, None) | (None, id)] with the added tokens of one kind cut out:
        leftmost match first, the longest at a position, lstrip/rstrip taking
        the whitespace next to the token along."""
        tokens = [t for t in self.added if t["normalized"] == normalized and t["pattern"]]
        if not tokens:
            return [(text, None)]
        tokens.sort(key=lambda t: -len(t["pattern"]))
        pattern = regex.compile("|".join(regex.escape(t["pattern"]) for t in tokens))
        by_pattern = {}
        for t in tokens:
            by_pattern.setdefault(t["pattern"], t)
        out, pos = [], 0
        for m in pattern.finditer(text):
            token = by_pattern[m.group(0)]
            start, end = m.start(), m.end()
            if token.get("single_word"):
                before = text[start - 1] if start > 0 else " "
                after = text[end] if end < len(text) else " "
                if regex.match(r"\w", before) or regex.match(r"\w", after):
                    continue
            if token.get("lstrip"):
                while start > pos and is_space(text[start - 1]):
                    start -= 1
            if token.get("rstrip"):
                while end < len(text) and is_space(text[end]):
                    end += 1
            out.append((text[pos:start], None))
            out.append((None, token["id"]))
            pos = end
        out.append((text[pos:], None))
        return out

    def encode_piece(self, piece):
        ids = []
        if not piece:
            return ids
        if self.prefix_space and not piece.startswith(" "):
            piece = " " + piece
        for word in self.split(piece):
            ids.extend(self.model.word_ids(word))
        return ids

    def encode(self, text, max_len=0, add_special_tokens=True):
        ids = []
        for raw, token_id in self.split_added(text, False):
            if token_id is not None:
                ids.append(token_id)
                continue
            if not raw:
                continue
            for piece, inner_id in self.split_added(self.normalize(raw), True):
                if inner_id is not None:
                    ids.append(inner_id)
                else:
                    ids.extend(self.encode_piece(piece))
        special = len(self.prefix) + len(self.suffix) if add_special_tokens else 0
        if max_len:
            ids = ids[:max_len - special]
        return self.prefix + ids + self.suffix if add_special_tokens else ids


def run_cases():
    with open(os.path.join(FIXTURES, "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    results = []
    for case in cases:
        tok = Tokenizer(os.path.join(FIXTURES, case["tokenizer"]))
        with open(os.path.join(FIXTURES, case["texts"]), encoding="utf-8") as f:
            texts = json.load(f)
        ids = [tok.encode(t, case.get("max_len", 0), case.get("add_special_tokens", True)) for t in texts]
        results.append(dict(case, ids=ids))
    return results


def expected_text():
    """The cases as JSON, one line per text's ids (diffs stay readable)."""
    out = ['{"generated_by": "tests/data/reference_tokenizer.py --write-expected",', ' "cases": [']
    cases = run_cases()
    for k, case in enumerate(cases):
        head = {key: value for key, value in case.items() if key != "ids"}
        out.append("  " + json.dumps(head)[:-1] + ', "ids": [')
        rows = [json.dumps(ids) for ids in case["ids"]]
        out.extend("    %s%s" % (row, "," if i + 1 < len(rows) else "") for i, row in enumerate(rows))
        out.append("  ]}" + ("," if k + 1 < len(cases) else ""))
    out.append(" ]}")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tokenizer", nargs="?")
    parser.add_argument("texts", nargs="?")
    parser.add_argument("--max-len", type=int, default=0)
    parser.add_argument("--write-expected", action="store_true")
    parser.add_argument("--print-expected", action="store_true")
    args = parser.parse_args()
    if args.write_expected:
        with open(os.path.join(FIXTURES, "expected.json"), "w", encoding="utf-8") as f:
            f.write(expected_text())
    elif args.print_expected:
        sys.stdout.write(expected_text())
    elif args.tokenizer and args.texts:
        tok = Tokenizer(args.tokenizer)
        with open(args.texts, encoding="utf-8") as f:
            texts = json.load(f)
        json.dump([tok.encode(t, args.max_len) for t in texts], sys.stdout)
        sys.stdout.write("\n")
    else:
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
