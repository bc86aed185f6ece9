#!/usr/bin/env python3
"""Writes tests/fixtures/hf/: two tiny Hugging Face model directories with the
parameter names of BertForSequenceClassification and
ModernBertForSequenceClassification (random weights, for `greentune inspect`
tests, not for training), plus malformed files. Run with Debian's python3
(it needs torch) only to change the fixtures:

    /usr/bin/python3 tests/io/make_hf_fixtures.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_spec import serialize  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "hf")
H, FFN, VOCAB, POS, LAYERS = 8, 16, 40, 16, 1


def tensor_entry(t):
    dtype = {torch.float32: "F32", torch.bfloat16: "BF16", torch.int64: "I64"}[t.dtype]
    raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).contiguous().numpy().tobytes()
    return (dtype, list(t.shape), raw)


def bert_weights(g):
    w = {}

    def linear(name, out, inp):
        w[name + ".weight"] = torch.randn(out, inp, generator=g) * 0.02
        w[name + ".bias"] = torch.zeros(out)

    def norm(name):
        w[name + ".weight"] = torch.ones(H)
        w[name + ".bias"] = torch.zeros(H)

    w["bert.embeddings.word_embeddings.weight"] = torch.randn(VOCAB, H, generator=g) * 0.02
    w["bert.embeddings.position_embeddings.weight"] = torch.randn(POS, H, generator=g) * 0.02
    w["bert.embeddings.token_type_embeddings.weight"] = torch.randn(2, H, generator=g) * 0.02
    norm("bert.embeddings.LayerNorm")
    for i in range(LAYERS):
        p = "bert.encoder.layer.%d." % i
        for part in ("query", "key", "value"):
            linear(p + "attention.self." + part, H, H)
        linear(p + "attention.output.dense", H, H)
        norm(p + "attention.output.LayerNorm")
        linear(p + "intermediate.dense", FFN, H)
        linear(p + "output.dense", H, FFN)
        norm(p + "output.LayerNorm")
    linear("bert.pooler.dense", H, H)
    linear("classifier", 2, H)
    return w


def modernbert_weights(g):
    bf = torch.bfloat16
    w = {"model.embeddings.tok_embeddings.weight": torch.randn(VOCAB, H, generator=g).to(bf),
         "model.embeddings.norm.weight": torch.ones(H).to(bf)}
    for i in range(LAYERS):
        p = "model.layers.%d." % i
        if i:  # the first layer's attention norm is an identity in ModernBERT
            w[p + "attn_norm.weight"] = torch.ones(H).to(bf)
        w[p + "attn.Wqkv.weight"] = torch.randn(3 * H, H, generator=g).to(bf)
        w[p + "attn.Wo.weight"] = torch.randn(H, H, generator=g).to(bf)
        w[p + "mlp_norm.weight"] = torch.ones(H).to(bf)
        w[p + "mlp.Wi.weight"] = torch.randn(2 * FFN, H, generator=g).to(bf)
        w[p + "mlp.Wo.weight"] = torch.randn(H, FFN, generator=g).to(bf)
    w["model.final_norm.weight"] = torch.ones(H).to(bf)
    w["head.dense.weight"] = torch.randn(H, H, generator=g).to(bf)
    w["head.norm.weight"] = torch.ones(H).to(bf)
    w["classifier.weight"] = torch.randn(2, H, generator=g)
    w["classifier.bias"] = torch.zeros(2)
    return w


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def added(tokens, ids):
    return [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True} for t, i in zip(tokens, ids)]


def wordpiece_tokenizer():
    pieces = SPECIALS + list("abcdefghijklmnopqrstuvwxyz") + ["##s", "##ing", "the", "spam", "ham", "free", "win",
                                                             "##ed", "."]
    assert len(pieces) == VOCAB
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added(SPECIALS, range(5)),
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                           "pair": [], "special_tokens": {}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {p: i for i, p in enumerate(pieces)}},
    }


def bpe_tokenizer():
    specials = ["<|padding|>", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = list("abcdefghijklmnopqrstuvwxyz") + ["\u0120", "\u0120s", "sp", "am", "spam", "\u0120spam", "ha",
                                                     "ham", "in"]
    vocab = {t: i for i, t in enumerate(specials + letters)}
    assert len(vocab) == VOCAB
    return {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 8192, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None, "pad_id": 0,
                    "pad_type_id": 0, "pad_token": "<|padding|>"},
        "added_tokens": added(specials, range(5)),
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}]},
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "TemplateProcessing", "single": [], "pair": [], "special_tokens": {}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": ["\u0120 s", "s p", "a m", "sp am", "\u0120 spam", "h a", "ha m", "i n"]},
    }


def bert_config():
    return {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": H,
            "num_hidden_layers": LAYERS, "num_attention_heads": 2, "intermediate_size": FFN, "vocab_size": VOCAB,
            "max_position_embeddings": POS, "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "pad_token_id": 0,
            "id2label": {"0": "ham", "1": "spam"}, "label2id": {"ham": 0, "spam": 1}, "torch_dtype": "float32"}


def modernbert_config():
    return {"architectures": ["ModernBertForSequenceClassification"], "model_type": "modernbert",
            "hidden_size": H, "num_hidden_layers": LAYERS, "num_attention_heads": 2, "intermediate_size": FFN,
            "vocab_size": VOCAB, "max_position_embeddings": 64, "hidden_activation": "gelu",
            "global_attn_every_n_layers": 3, "local_attention": 16, "global_rope_theta": 160000.0,
            "local_rope_theta": 10000.0, "norm_eps": 1e-05, "norm_bias": False, "pad_token_id": 0,
            "id2label": {"0": "ham", "1": "spam"}, "torch_dtype": "bfloat16"}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def write_json(path, obj):
    write(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def main():
    g = torch.Generator().manual_seed(5)
    for name, config, weights, tokenizer in (
            ("tiny-bert", bert_config(), bert_weights(g), wordpiece_tokenizer()),
            ("tiny-modernbert", modernbert_config(), modernbert_weights(g), bpe_tokenizer())):
        d = os.path.join(OUT, name)
        write_json(os.path.join(d, "config.json"), config)
        write_json(os.path.join(d, "tokenizer.json"), tokenizer)
        write(os.path.join(d, "model.safetensors"),
              serialize({k: tensor_entry(v) for k, v in weights.items()}, {"format": "pt"}))
    bad = os.path.join(OUT, "bad")
    unknown = wordpiece_tokenizer()
    unknown["model"]["type"] = "SentencePieceMagic"
    write_json(os.path.join(bad, "unknown-model", "tokenizer.json"), unknown)
    write(os.path.join(bad, "truncated-config", "config.json"), '{"model_type": "bert", "hidden_size": ')
    write_json(os.path.join(bad, "not-a-model.json"), {"name": "greentune", "version": "0.1.0"})


if __name__ == "__main__":
    main()
