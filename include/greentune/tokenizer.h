/* greentune/tokenizer.h — WordPiece and byte-level BPE tokenizers, read from
 * and written to Hugging Face's tokenizer.json.
 *
 *   gt_tokenizer *tok;
 *   gt_tokenizer_load(&tok, "bert-base-uncased/tokenizer.json", &err);   // or
 *   gt_tokenizer_train_wordpiece(&tok, texts, lengths, n, &wp_opt, &err);
 *   gt_encode_options eo;  gt_encode_options_init(&eo);  eo.max_len = 256;
 *   gt_encoded enc;
 *   gt_tokenizer_encode_batch(tok, texts, lengths, n, &eo, &enc, &err);
 *   ... ids of text i: enc.ids[enc.offsets[i] .. enc.offsets[i + 1]) ...
 *   gt_encoded_free(&enc);  gt_tokenizer_free(tok);
 *
 * The pipeline is Hugging Face's: added (special) tokens are split off, the
 * rest is normalized (BertNormalizer, NFC, NFD, Lowercase, StripAccents),
 * pre-tokenized (BertPreTokenizer, ByteLevel, WhitespaceSplit), cut into
 * pieces by the model (WordPiece, BPE), truncated, and wrapped by the post
 * processor ([CLS] $A [SEP]). Other components are refused with one error. */
#ifndef GREENTUNE_TOKENIZER_H
#define GREENTUNE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"

typedef struct gt_tokenizer gt_tokenizer;

/* --- WordPiece training ------------------------------------------------------- */

typedef struct {
    size_t vocab_size;               /* target size, special tokens included (8192) */
    int lowercase;                   /* lowercase and strip accents, as uncased BERT (1) */
    size_t min_frequency;            /* pairs seen fewer times are never merged (2) */
    size_t max_input_chars_per_word; /* longer words become [UNK] (100) */
} gt_wordpiece_options;

GT_API void gt_wordpiece_options_init(gt_wordpiece_options *opt);

/* Learns a WordPiece vocabulary from texts (the training split): BERT
 * normalization and pre-tokenization, then pair merges by frequency as Hugging
 * Face's WordPieceTrainer does. Special tokens [PAD] [UNK] [CLS] [SEP] [MASK]
 * take ids 0..4. The result saves as a tokenizer.json that `tokenizers` loads. */
GT_API gt_status gt_tokenizer_train_wordpiece(gt_tokenizer **out, const char *const *texts, const size_t *lengths,
                                              size_t n, const gt_wordpiece_options *opt, gt_error *err);

/* --- loading and saving ----------------------------------------------------- */

GT_API gt_status gt_tokenizer_load(gt_tokenizer **out, const char *path, gt_error *err);
/* The same from text in memory; name is used in error messages. */
GT_API gt_status gt_tokenizer_from_json(gt_tokenizer **out, const char *json, size_t len, const char *name,
                                        gt_error *err);
/* Writes tokenizer.json atomically (a loaded tokenizer is written back unchanged). */
GT_API gt_status gt_tokenizer_save(const gt_tokenizer *tok, const char *path, gt_error *err);
GT_API void gt_tokenizer_free(gt_tokenizer *tok);

typedef struct {
    const char *model;          /* "WordPiece" or "BPE" */
    size_t vocab_size;          /* ids are 0 .. vocab_size-1 */
    int32_t pad_id, unk_id, cls_id, sep_id, mask_id;  /* -1 when the tokenizer has none */
    size_t n_added_ids;         /* ids the post processor adds to one sequence (2 for [CLS] .. [SEP]) */
    size_t n_added_tokens;      /* entries of added_tokens */
    int byte_level;             /* byte-level BPE (GPT-2 / ModernBERT style) */
    size_t truncation_max_len;  /* the file's truncation.max_length, 0 when none */
} gt_tokenizer_facts;

GT_API void gt_tokenizer_describe(const gt_tokenizer *tok, gt_tokenizer_facts *facts);
/* Id of a token (model vocabulary or added token), or -1. */
GT_API int32_t gt_tokenizer_token_to_id(const gt_tokenizer *tok, const char *token);
/* The token of an id, or NULL. */
GT_API const char *gt_tokenizer_id_to_token(const gt_tokenizer *tok, int32_t id);

/* --- encoding --------------------------------------------------------------- */

typedef struct {
    size_t max_len;           /* keep at most max_len ids, special tokens included; 0 = all */
    int add_special_tokens;   /* apply the post processor ([CLS] .. [SEP]) (1) */
    int fast;                 /* 0: the plain serial path (default); 1: cache and OpenMP threads — the
                                 tokenizer_fast knob. Both give the same ids. */
    int threads;              /* threads of the fast path; 0 = OpenMP's default */
} gt_encode_options;

GT_API void gt_encode_options_init(gt_encode_options *opt);

/* Encoded documents: the ids of document i are ids[offsets[i] .. offsets[i + 1]). */
typedef struct {
    size_t n;
    int32_t *ids;
    size_t *offsets;          /* n + 1 entries */
    size_t *full_lengths;     /* ids of each document before truncation */
    size_t tokens;            /* ids kept, all documents */
    size_t tokens_before_truncation;
    size_t truncated;         /* documents cut to max_len */
    size_t max_full_length;
    size_t cache_hits, cache_lookups;  /* word cache of the fast path */
    int threads;              /* threads used */
    double seconds;           /* wall time of the encoding */
    double tokens_per_s;      /* tokens_before_truncation / seconds: the work done */
} gt_encoded;

/* Tokens per document before and after truncation: the evidence of seq_trim. */
typedef struct {
    double mean_before, mean_after;
    size_t max_before, max_after;
} gt_length_stats;

GT_API void gt_encoded_lengths(const gt_encoded *enc, gt_length_stats *stats);

/* One text; *ids is malloc'd (free it). Invalid UTF-8 is read as U+FFFD. */
GT_API gt_status gt_tokenizer_encode(const gt_tokenizer *tok, const char *text, size_t len,
                                     const gt_encode_options *opt, int32_t **ids, size_t *n, gt_error *err);
/* Many texts (lengths may be NULL for NUL-terminated texts). */
GT_API gt_status gt_tokenizer_encode_batch(const gt_tokenizer *tok, const char *const *texts, const size_t *lengths,
                                           size_t n, const gt_encode_options *opt, gt_encoded *out, gt_error *err);
GT_API void gt_encoded_free(gt_encoded *enc);

/* Text of ids through the tokenizer's decoder (WordPiece or ByteLevel);
 * skip_special drops special tokens. *text is malloc'd. */
GT_API gt_status gt_tokenizer_decode(const gt_tokenizer *tok, const int32_t *ids, size_t n, int skip_special,
                                     char **text, gt_error *err);

#endif
