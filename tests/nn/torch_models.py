"""BERT and ModernBERT sequence classifiers in plain PyTorch, written from the
semantics of Hugging Face transformers' modeling_bert.py and
modeling_modernbert.py (eager attention), without the transformers library.

Parameter names are HF's (model.state_dict() keys equal the checkpoint
names), so weights move between this, greentune and HF as safetensors files.
Works on PyTorch 1.13 (Debian): LayerNorm without bias is written out, since
nn.LayerNorm(bias=False) came later.

The config is a dict with greentune's config fields (see greentune/nn.h):
arch, layers, dim, heads, ffn, vocab, max_len, num_labels, type_vocab, pad_id,
eps, act, head_act, pooling, dropout probabilities, global_every,
local_window, global_theta, local_theta.

forward(ids, valid, labels) -> (logits, loss): ids (B, T) int64, valid (B)
the number of real tokens of each sequence (they come first).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


def padding_mask(valid, T, dtype):
    """HF's extended attention mask: 0 for real keys, finfo.min for padding, (B, 1, 1, T)."""
    keep = torch.arange(T)[None, :] < valid[:, None]
    mask = torch.zeros(keep.shape, dtype=dtype).masked_fill(~keep, torch.finfo(dtype).min)
    return mask[:, None, None, :]


def attention(q, k, v, mask):
    """q, k, v: (B, H, T, D); softmax in at least fp32, as HF upcasts it."""
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    wide = torch.float64 if q.dtype == torch.float64 else torch.float32
    probs = F.softmax(scores + mask, dim=-1, dtype=wide).to(q.dtype)
    return torch.matmul(probs, v)


class LayerNormNoBias(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        # PyTorch 1.13's autocast has no bf16-input kernel without a bias: normalise in the weight's dtype.
        return F.layer_norm(x.to(self.weight.dtype), (x.shape[-1],), self.weight, None, self.eps)


# ---- BERT ----------------------------------------------------------------------------

class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab"], c["dim"], padding_idx=c["pad_id"])
        self.position_embeddings = nn.Embedding(c["max_len"], c["dim"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab"], c["dim"])
        self.LayerNorm = nn.LayerNorm(c["dim"], eps=c["eps"])
        self.dropout = nn.Dropout(c["drop_embedding"])

    def forward(self, ids):
        T = ids.shape[1]
        x = self.word_embeddings(ids) + self.token_type_embeddings(torch.zeros_like(ids))
        x = x + self.position_embeddings(torch.arange(T))[None]
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c["heads"]
        self.query = nn.Linear(c["dim"], c["dim"])
        self.key = nn.Linear(c["dim"], c["dim"])
        self.value = nn.Linear(c["dim"], c["dim"])

    def forward(self, x, mask):
        B, T, C = x.shape

        def split(t):
            return t.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        ctx = attention(split(self.query(x)), split(self.key(x)), split(self.value(x)), mask)
        return ctx.transpose(1, 2).reshape(B, T, C)


class BertAddNorm(nn.Module):
    """BertSelfOutput / BertOutput: LayerNorm(dropout(dense(h)) + residual)."""

    def __init__(self, c, inp):
        super().__init__()
        self.dense = nn.Linear(inp, c["dim"])
        self.LayerNorm = nn.LayerNorm(c["dim"], eps=c["eps"])
        self.dropout = nn.Dropout(c["drop_ffn"])

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertAddNorm(c, c["dim"])

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["dim"], c["ffn"])
        self.act = ACTIVATIONS[c["act"]]

    def forward(self, x):
        return self.act(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertAddNorm(c, c["ffn"])

    def forward(self, x, mask):
        h = self.attention(x, mask)
        return self.output(self.intermediate(h), h)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["layers"])])


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["dim"], c["dim"])


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c["drop_classifier"])
        self.classifier = nn.Linear(c["dim"], c["num_labels"])

    def forward(self, ids, valid, labels=None):
        x = self.bert.embeddings(ids)
        mask = padding_mask(valid, ids.shape[1], x.dtype)
        for layer in self.bert.encoder.layer:
            x = layer(x, mask)
        if self.c["pooling"] == "mean":
            pooled = mean_pool(x, valid)
        else:
            pooled = x[:, 0]
        pooled = torch.tanh(self.bert.pooler.dense(pooled))
        logits = self.classifier(self.dropout(pooled))
        return logits, loss_of(logits, labels)


# ---- ModernBERT ---------------------------------------------------------------------

def rope_tables(T, D, theta):
    """cos, sin (T, D) as ModernBertRotaryEmbedding computes them in fp32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    pos = torch.arange(T).float()
    freqs = (inv_freq[:, None] @ pos[None, :]).transpose(0, 1)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class ModernBertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.tok_embeddings = nn.Embedding(c["vocab"], c["dim"], padding_idx=c["pad_id"])
        self.norm = LayerNormNoBias(c["dim"], c["eps"])
        self.drop = nn.Dropout(c["drop_embedding"])

    def forward(self, ids):
        return self.drop(self.norm(self.tok_embeddings(ids)))


class ModernBertAttention(nn.Module):
    def __init__(self, c, layer):
        super().__init__()
        self.heads = c["heads"]
        self.Wqkv = nn.Linear(c["dim"], 3 * c["dim"], bias=False)
        self.Wo = nn.Linear(c["dim"], c["dim"], bias=False)
        self.local = layer % c["global_every"] != 0
        self.out_drop = nn.Dropout(c["drop_attn_out"])

    def forward(self, x, mask, rope):
        B, T, C = x.shape
        qkv = self.Wqkv(x).view(B, T, 3, self.heads, C // self.heads)
        q, k, v = qkv.transpose(3, 1).unbind(dim=2)          # (B, H, T, D) each
        cos, sin = rope
        cos, sin = cos[None, None].to(q.dtype), sin[None, None].to(q.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        ctx = attention(q, k, v, mask).transpose(1, 2).reshape(B, T, C)
        return self.out_drop(self.Wo(ctx))


class ModernBertMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.Wi = nn.Linear(c["dim"], 2 * c["ffn"], bias=False)
        self.act = ACTIVATIONS[c["act"]]
        self.drop = nn.Dropout(c["drop_ffn"])
        self.Wo = nn.Linear(c["ffn"], c["dim"], bias=False)

    def forward(self, x):
        inp, gate = self.Wi(x).chunk(2, dim=-1)
        return self.Wo(self.drop(self.act(inp) * gate))


class ModernBertLayer(nn.Module):
    def __init__(self, c, layer):
        super().__init__()
        self.attn_norm = nn.Identity() if layer == 0 else LayerNormNoBias(c["dim"], c["eps"])
        self.attn = ModernBertAttention(c, layer)
        self.mlp_norm = LayerNormNoBias(c["dim"], c["eps"])
        self.mlp = ModernBertMLP(c)

    def forward(self, x, global_mask, window_mask, ropes):
        local = self.attn.local
        x = x + self.attn(self.attn_norm(x), window_mask if local else global_mask, ropes[1 if local else 0])
        return x + self.mlp(self.mlp_norm(x))


class ModernBertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = ModernBertEmbeddings(c)
        self.layers = nn.ModuleList([ModernBertLayer(c, i) for i in range(c["layers"])])
        self.final_norm = LayerNormNoBias(c["dim"], c["eps"])


class ModernBertHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["dim"], c["dim"], bias=False)
        self.act = ACTIVATIONS[c["head_act"]]
        self.norm = LayerNormNoBias(c["dim"], c["eps"])

    def forward(self, x):
        return self.norm(self.act(self.dense(x)))


class ModernBertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = ModernBertModel(c)
        self.head = ModernBertHead(c)
        self.drop = nn.Dropout(c["drop_classifier"])
        self.classifier = nn.Linear(c["dim"], c["num_labels"])

    def forward(self, ids, valid, labels=None):
        c = self.c
        B, T = ids.shape
        x = self.model.embeddings(ids)
        global_mask = padding_mask(valid, T, x.dtype)
        # HF _update_attention_mask: the padding mask, and finfo.min outside |i - j| <= local_attention // 2
        distance = (torch.arange(T)[None, :] - torch.arange(T)[:, None]).abs()
        far = (distance > c["local_window"] // 2)[None, None]
        window_mask = global_mask.masked_fill(far, torch.finfo(x.dtype).min)
        D = c["dim"] // c["heads"]
        ropes = [rope_tables(T, D, c["global_theta"]), rope_tables(T, D, c["local_theta"])]
        for layer in self.model.layers:
            x = layer(x, global_mask, window_mask, ropes)
        x = self.model.final_norm(x)
        pooled = mean_pool(x, valid) if c["pooling"] == "mean" else x[:, 0]
        logits = self.classifier(self.drop(self.head(pooled)))
        return logits, loss_of(logits, labels)


# ---- shared -------------------------------------------------------------------------

def mean_pool(x, valid):
    """HF: (h * mask).sum(1) / mask.sum(1)."""
    mask = (torch.arange(x.shape[1])[None, :] < valid[:, None]).to(x.dtype)
    return (x * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)


def loss_of(logits, labels):
    return None if labels is None else F.cross_entropy(logits.float(), labels)


def build(c):
    cls = BertForSequenceClassification if c["arch"] == "bert" else ModernBertForSequenceClassification
    return cls(c)


def hf_config(c):
    """The HF config.json for c (what greentune's gt_nn_config_from_hf reads)."""
    act = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu"}
    j = {"vocab_size": c["vocab"], "hidden_size": c["dim"], "num_hidden_layers": c["layers"],
         "num_attention_heads": c["heads"], "intermediate_size": c["ffn"],
         "max_position_embeddings": c["max_len"], "pad_token_id": c["pad_id"], "initializer_range": 0.02,
         "id2label": {str(i): "L%d" % i for i in range(c["num_labels"])}}
    if c["arch"] == "bert":
        j.update({"architectures": ["BertForSequenceClassification"], "model_type": "bert",
                  "type_vocab_size": c["type_vocab"], "hidden_act": act[c["act"]], "layer_norm_eps": c["eps"],
                  "hidden_dropout_prob": c["drop_ffn"], "attention_probs_dropout_prob": 0.0,
                  "classifier_dropout": c["drop_classifier"]})
    else:
        j.update({"architectures": ["ModernBertForSequenceClassification"], "model_type": "modernbert",
                  "hidden_activation": act[c["act"]], "classifier_activation": act[c["head_act"]],
                  "norm_eps": c["eps"], "norm_bias": False, "attention_bias": False, "mlp_bias": False,
                  "classifier_bias": False, "classifier_pooling": c["pooling"],
                  "global_attn_every_n_layers": c["global_every"], "local_attention": c["local_window"],
                  "global_rope_theta": c["global_theta"], "local_rope_theta": c["local_theta"],
                  "embedding_dropout": c["drop_embedding"], "attention_dropout": c["drop_attn_out"],
                  "mlp_dropout": c["drop_ffn"], "classifier_dropout": c["drop_classifier"]})
    return j


def tiny_config(arch, **overrides):
    c = {"arch": arch, "layers": 2, "dim": 32, "heads": 4, "ffn": 64, "vocab": 50, "max_len": 64,
         "num_labels": 3, "type_vocab": 2, "pad_id": 0, "act": "gelu", "head_act": "gelu", "pooling": "cls",
         "drop_embedding": 0.0, "drop_attn_out": 0.0, "drop_ffn": 0.0, "drop_classifier": 0.0,
         "global_every": 3, "local_window": 8, "global_theta": 160000.0, "local_theta": 10000.0,
         "eps": 1e-12 if arch == "bert" else 1e-5}
    c.update(overrides)
    return c
