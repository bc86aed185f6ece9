/* The tokenizer's insides, shared by tokenizer_json.c (reading the file),
 * normalize.c, pretokenize.c, wordpiece.c, bpe.c, added_tokens.c,
 * tokenizer.c (the encode pipeline) and wordpiece_train.c. */
#ifndef GREENTUNE_DATA_TOKENIZER_INTERNAL_H
#define GREENTUNE_DATA_TOKENIZER_INTERNAL_H

#include "data/data_internal.h"
#include "data/unicode.h"
#include "greentune/tokenizer.h"

#define TOK_MAX_STEPS 8        /* normalizers / pre-tokenizers in a Sequence */
#define TOK_MAX_TEMPLATE 8     /* ids the post processor may add on each side */

typedef enum { TOK_WORDPIECE, TOK_BPE } tok_model;

typedef enum { NORM_BERT, NORM_NFC, NORM_NFD, NORM_LOWERCASE, NORM_STRIP_ACCENTS } norm_kind;
typedef struct {
    norm_kind kind;
    int clean_text, chinese_chars, strip_accents, lowercase;  /* BertNormalizer's switches */
} norm_step;

typedef enum { PRE_BERT, PRE_BYTE_LEVEL, PRE_WHITESPACE_SPLIT } pre_kind;
typedef struct {
    pre_kind kind;
    int add_prefix_space, use_regex;  /* ByteLevel's switches */
} pre_step;

typedef enum { DECODER_NONE, DECODER_WORDPIECE, DECODER_BYTE_LEVEL, DECODER_UNSUPPORTED } decoder_kind;

typedef struct {
    char *content;
    int32_t id;
    uint32_t *pattern;       /* what is matched: the content, normalized when `normalized` */
    size_t pattern_len;
    int special, lstrip, rstrip, single_word, normalized;
} added_token;

struct gt_tokenizer {
    tok_model model;
    char **vocab;            /* id -> token (model vocabulary and added tokens; NULL for holes) */
    size_t vocab_size;
    gt_strmap token_ids;     /* the model's vocabulary: token -> id */
    int32_t unk_id;
    char *unk_token;

    /* WordPiece */
    char *prefix;            /* continuing_subword_prefix, "##" */
    size_t max_chars_per_word;
    gt_strmap piece_ids;     /* continuation pieces without the prefix: "ing" -> id of "##ing" */
    size_t max_token_bytes;  /* longest token: bounds the greedy longest-match search */

    /* BPE */
    gt_u64map merges;        /* (left id << 32) | right id -> merge index */
    uint32_t *merge_rank;
    int32_t *merge_result;
    size_t n_merges;
    int byte_level;
    int32_t byte_ids[256];   /* byte-level: the id of each byte's symbol, -1 if absent */
    int ignore_merges, fuse_unk;
    /* Encoding is a concatenation over the pieces of text between ASCII spaces,
     * tabs and line breaks (true for BERT-style pipelines, not for byte-level
     * BPE, whose words carry their leading space), so the fast path may cache
     * whole pieces of raw text. */
    int chunkable;

    norm_step norms[TOK_MAX_STEPS];
    size_t n_norms;
    pre_step pres[TOK_MAX_STEPS];
    size_t n_pres;

    added_token *added;
    size_t n_added;
    size_t n_added_normalized;
    uint8_t added_first[128];  /* bitmap of (first pattern code point % 1024): a fast "no match here" */

    int32_t prefix_ids[TOK_MAX_TEMPLATE], suffix_ids[TOK_MAX_TEMPLATE];
    size_t n_prefix_ids, n_suffix_ids;

    decoder_kind decoder;
    char *decoder_prefix;
    int decoder_cleanup;

    int32_t pad_id, cls_id, sep_id, mask_id;
    size_t truncation_max_len;
    char *json;              /* the tokenizer.json text, saved verbatim */
    size_t json_len;
};

/* Scratch space of one encoding thread; reused from document to document. */
typedef struct {
    gt_cpbuf raw, norm, tmp, stage, piece;
    gt_bytes word, chunk;
    size_t *spans, n_spans, cap_spans;      /* [start, end) pairs of words in a piece */
    size_t *spans2, cap_spans2;
    /* BPE */
    int32_t *sym, *prev, *next;
    uint64_t *heap;
    size_t cap_sym, cap_heap;
    /* the cache: word bytes (or raw chunk bytes when chunkable) -> ids */
    int use_cache;
    gt_strmap cache;
    size_t *cache_start, *cache_len, cache_cap;
    gt_ivec cache_ids;
    size_t hits, lookups;
} tok_work;

void tok_work_free(tok_work *w);

/* The byte-level alphabet: byte b is written as the code point gt_byte_char[b]. */
uint32_t tok_byte_char(unsigned b);
/* Inverse: the byte of code point cp, or -1. */
int tok_char_byte(uint32_t cp);

/* normalize.c: runs tok->norms over in[0..n) into out (cleared first); tmp and
 * stage are scratch. */
int tok_normalize(const gt_tokenizer *tok, const uint32_t *in, size_t n, gt_cpbuf *out, gt_cpbuf *tmp,
                  gt_cpbuf *stage);
int tok_bert_normalize(const norm_step *step, const uint32_t *in, size_t n, gt_cpbuf *out, gt_cpbuf *tmp);

/* pretokenize.c: splits piece[0..n) into words: w->spans gets [start, end)
 * pairs (w->n_spans of them). */
int tok_pretokenize(const gt_tokenizer *tok, const uint32_t *piece, size_t n, tok_work *w);
/* BERT's splitting alone (the WordPiece trainer uses it). */
int tok_bert_split(const uint32_t *cps, size_t start, size_t end, tok_work *w);
int tok_is_bert_punctuation(uint32_t cp);

/* wordpiece.c / bpe.c: ids of one word (UTF-8 bytes) appended to out. */
int tok_wordpiece_word(const gt_tokenizer *tok, const char *word, size_t len, gt_ivec *out);
int tok_bpe_word(const gt_tokenizer *tok, const char *word, size_t len, tok_work *w, gt_ivec *out);

/* added_tokens.c: finds the next added token in cps[from..n) among those with
 * normalized == want_normalized. Returns 1 and the token and the span it
 * covers (lstrip/rstrip included), or 0. */
int tok_find_added(const gt_tokenizer *tok, const uint32_t *cps, size_t n, size_t from, int want_normalized,
                   const added_token **token, size_t *start, size_t *end);

/* tokenizer.c: the ids of one document (before truncation and the template). */
int tok_encode_text(const gt_tokenizer *tok, const char *text, size_t len, tok_work *w, gt_ivec *out);

#endif
