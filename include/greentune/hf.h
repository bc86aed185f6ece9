/* greentune/hf.h — Hugging Face model directory files, read for their facts.
 *
 * A model directory holds config.json (read generically as a config tree),
 * model.safetensors (see safetensors.h) and tokenizer.json. The tokenizer
 * loader proper lives with the data code; here is only what `greentune inspect`
 * shows about a tokenizer.json, checked well enough to name what is wrong. */
#ifndef GREENTUNE_HF_H
#define GREENTUNE_HF_H

#include <stddef.h>

#include "greentune/common.h"
#include "greentune/config.h"

/* DIR/config.json as a config tree (a missing file says the directory is not a
 * Hugging Face model directory). */
GT_API gt_status gt_hf_load_config(const char *model_dir, gt_config **out, gt_error *err);

#define GT_HF_TOKENIZER_SPECIALS 16

typedef struct {
    char model[16];               /* WordPiece, BPE, Unigram or WordLevel */
    size_t vocab_size;            /* entries of model.vocab */
    size_t merges;                /* BPE merges */
    size_t added_tokens;          /* entries of added_tokens */
    size_t special_count;         /* special added tokens, all of them... */
    char specials[GT_HF_TOKENIZER_SPECIALS][48]; /* ...and the first few, as written */
    char unk_token[48];           /* model.unk_token, "" when none */
    char subword_prefix[16];      /* WordPiece continuing_subword_prefix ("##") */
    char normalizer[128];         /* "BertNormalizer", "Sequence(NFC, Lowercase)", "" for none */
    char pre_tokenizer[128];
    char post_processor[128];
    char decoder[128];
    int lowercase;                /* 1 when the normalizer lowercases */
    long truncation_max_length;   /* 0 when no truncation is configured */
    int padding;                  /* 1 when padding is configured */
} gt_hf_tokenizer_facts;

/* Reads the facts from a tokenizer.json file, or from its parsed tree (label
 * names it in messages). An unknown model type, a missing or malformed vocab,
 * or malformed added_tokens is an error. */
GT_API gt_status gt_hf_tokenizer_facts_read(const char *path, gt_hf_tokenizer_facts *facts, gt_error *err);
GT_API gt_status gt_hf_tokenizer_facts_from_tree(const cJSON *root, const char *label, gt_hf_tokenizer_facts *facts,
                                              gt_error *err);

#endif
