#!/usr/bin/python3
"""Writes the small tokenizer.json fixtures of tests/fixtures/tokenizers/:

  wordpiece-tiny.json  a BERT-style WordPiece tokenizer (BertNormalizer with
                       lowercase, BertPreTokenizer, [CLS] $A [SEP]) whose
                       vocabulary is the corpus' characters plus chosen words and
                       pieces; [MASK] strips whitespace on its left, <url> is a
                       normalized (non-special) added token
  bpe-tiny.json        a ModernBERT-style byte-level BPE (NFC, ByteLevel without
                       prefix space, [CLS] $A [SEP], GPT-NeoX-like added tokens
                       such as <|padding|>, |||IP_ADDRESS||| and runs of spaces),
                       merges learned here from the corpus, "a b" merge strings
  bpe-prefix.json      byte-level BPE with add_prefix_space, [a, b] merge pairs,
                       ignore_merges, a Sequence normalizer (NFD, Lowercase,
                       StripAccents) and RobertaProcessing
  unigram.json         a model type greentune refuses

    /usr/bin/python3 tests/data/make_tokenizer_fixtures.py

The files are checked in; this script documents where they came from. It uses
only the standard library and python3-regex, not greentune.
"""
import collections
import json
import os
import unicodedata

import regex

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tokenizers")

CORPUS = """
The tokenizer splits text into tokens. Tokenization is the first stage of the pipeline,
and tokenizers are trained on the training split. Hello world, hello tokens!
Energy is measured for every stage: data, tokenize, load, train, save and eval.
Free money!!! Click here to claim your prize of $1,000,000 now. Unsubscribe at any time.
From: steve_burt@cursor-system.com Subject: Re: the meeting on Thursday at 10:30
int main(void) { return a->b[i] != 0 && x <= 3; } // code is text too
Café, naïve, résumé: accents are stripped when lowercasing. Don't, isn't, it's, we've.
Numbers like 3.14159 and 2002 appear in mail. The the the of of and and to to in in.
"""

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def added(id_, content, special=True, normalized=False, lstrip=False, rstrip=False):
    return {"id": id_, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def template(cls, sep, cls_id, sep_id):
    def piece(kind, id_, type_id=0):
        return {kind: {"id": id_, "type_id": type_id}}
    return {
        "type": "TemplateProcessing",
        "single": [piece("SpecialToken", cls), piece("Sequence", "A"), piece("SpecialToken", sep)],
        "pair": [piece("SpecialToken", cls), piece("Sequence", "A"), piece("SpecialToken", sep),
                 piece("Sequence", "B", 1), piece("SpecialToken", sep, 1)],
        "special_tokens": {cls: {"id": cls, "ids": [cls_id], "tokens": [cls]},
                           sep: {"id": sep, "ids": [sep_id], "tokens": [sep]}},
    }


def write(name, spec):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False, indent=1)
        f.write("\n")


def wordpiece_tiny():
    text = unicodedata.normalize("NFD", CORPUS.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    chars = sorted(set(c for c in text if not c.isspace()))
    words = ["the", "token", "tokens", "hello", "world", "energy", "stage", "train", "split", "free",
             "money", "click", "here", "cafe", "naive", "resume", "don", "isn", "it", "we", "ve", "un",
             "in", "of", "and", "to", "is", "at", "re", "mail", "code", "text", "data"]
    pieces = ["##s", "##ing", "##ed", "##er", "##iz", "##ize", "##izer", "##ization", "##ation", "##en",
              "##able", "##believ", "##l", "##o", "##d"]
    vocab = list(SPECIALS)
    for tok in words + chars + ["##" + c for c in chars] + pieces + ["中", "文", "字", "符"]:
        if tok not in vocab:
            vocab.append(tok)
    spec = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(i, t, lstrip=(t == "[MASK]")) for i, t in enumerate(SPECIALS)]
                        + [added(len(vocab), "<url>", special=False, normalized=True)],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": template("[CLS]", "[SEP]", 2, 3),
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(vocab)}},
    }
    write("wordpiece-tiny.json", spec)


def byte_chars():
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    out, extra = [], 0
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return out


GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def learn_merges(text, n_merges, prefix_space=False):
    """Plain BPE training: merge the most frequent adjacent pair (ties by text)."""
    table = byte_chars()
    if prefix_space:
        text = " " + text
    counts = collections.Counter(
        tuple(table[b] for b in w.encode("utf-8")) for w in GPT2_PATTERN.findall(text))
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for word, n in counts.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merges.append(best)
        merged = collections.Counter()
        for word, n in counts.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        counts = merged
    return merges


def bpe_vocab(lead, merges):
    vocab = list(lead) + byte_chars()
    for a, b in merges:
        if a + b not in vocab:
            vocab.append(a + b)
    return {t: i for i, t in enumerate(vocab)}


def bpe_tiny():
    text = unicodedata.normalize("NFC", CORPUS)
    merges = learn_merges(text, 300)
    vocab = bpe_vocab(["<|endoftext|>", "<|padding|>"], merges)
    n = len(vocab)
    tail = ["|||IP_ADDRESS|||", "    ", "  ", "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    added_tokens = [added(0, "<|endoftext|>"), added(1, "<|padding|>")]
    for i, t in enumerate(tail):
        special = t.startswith("[")
        added_tokens.append(added(n + i, t, special=special, normalized=not special, lstrip=(t == "[MASK]")))
    spec = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added_tokens,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": template("[CLS]", "[SEP]", n + 4, n + 5),
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": ["%s %s" % m for m in merges]},
    }
    write("bpe-tiny.json", spec)


def bpe_prefix():
    text = "".join(c for c in unicodedata.normalize("NFD", CORPUS).lower()
                   if unicodedata.category(c) != "Mn")
    merges = learn_merges(text, 200, prefix_space=True)
    vocab = bpe_vocab(["<s>", "<pad>", "</s>", "<unk>"], merges)
    vocab["<mask>"] = len(vocab)
    spec = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(vocab[t], t, lstrip=(t == "<mask>")) for t in ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"},
                                                           {"type": "StripAccents"}]},
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                           "trim_offsets": True, "add_prefix_space": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": [list(m) for m in merges]},
    }
    write("bpe-prefix.json", spec)


def unigram():
    write("unigram.json", {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581"},
        "post_processor": None, "decoder": None,
        "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["\u2581a", -1.0]]},
    })


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    wordpiece_tiny()
    bpe_tiny()
    bpe_prefix()
    unigram()
