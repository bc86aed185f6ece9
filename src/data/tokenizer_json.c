/* Reading Hugging Face's tokenizer.json: the model (WordPiece or BPE), added
 * tokens, normalizer, pre-tokenizer, post processor, decoder, truncation and
 * padding. Anything greentune cannot reproduce exactly is refused with one
 * error naming the component, rather than tokenized differently. */
#include "data/tokenizer_internal.h"
#include "greentune/fileio.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKENIZER_FILE_MAX ((size_t)1 << 30)
#define VOCAB_MAX ((size_t)16 << 20)

typedef struct {
    gt_tokenizer *tok;
    const char *name;
    gt_error *err;
} loader;

static gt_status fail(loader *L, gt_status status, const char *fmt, const char *a, const char *b)
{
    char what[384];
    snprintf(what, sizeof what, fmt, a ? a : "", b ? b : "");
    return gt_error_set(L->err, status, "%s: %s", L->name, what);
}

static const char *type_of(const cJSON *node)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(node, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* A boolean member; absent or null gives dflt. */
static int flag(const cJSON *node, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(node, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* A count from the file (a length limit), fallback when absent or below 1;
 * capped, as converting 1e300 to size_t is undefined (found by
 * fuzz_tokenizer_json) and no text is that long anyway. */
static size_t as_count(const cJSON *v, size_t fallback)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1))
        return fallback;
    return v->valuedouble < 1e18 ? (size_t)v->valuedouble : (size_t)1e18;
}

static int as_id(const cJSON *v, int32_t *id)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= (double)VOCAB_MAX ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return 0;
    *id = (int32_t)v->valuedouble;
    return 1;
}

/* Makes room for id in tok->vocab. */
static int vocab_reserve(gt_tokenizer *tok, int32_t id)
{
    if ((size_t)id < tok->vocab_size)
        return 0;
    char **vocab = realloc(tok->vocab, ((size_t)id + 1) * sizeof *vocab);
    if (!vocab)
        return -1;
    memset(vocab + tok->vocab_size, 0, ((size_t)id + 1 - tok->vocab_size) * sizeof *vocab);
    tok->vocab = vocab;
    tok->vocab_size = (size_t)id + 1;
    return 0;
}

static gt_status load_vocab(loader *L, const cJSON *model)
{
    gt_tokenizer *tok = L->tok;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return fail(L, GT_ERR_PARSE, "model.vocab is not an object of token: id", NULL, NULL);
    size_t count = (size_t)cJSON_GetArraySize(vocab);
    if (count > VOCAB_MAX)
        return fail(L, GT_ERR_NOMEM, "the vocabulary is larger than 16M tokens", NULL, NULL);
    if (gt_strmap_init(&tok->token_ids, count) != 0)
        return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id;
        if (!as_id(e, &id))
            return fail(L, GT_ERR_PARSE, "model.vocab: the id of \"%s\" is not an integer in [0, 16M)", e->string,
                        NULL);
        if (vocab_reserve(tok, id) != 0 || gt_strmap_put(&tok->token_ids, e->string, strlen(e->string), id) != 0)
            return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
        if (tok->vocab[id])
            return fail(L, GT_ERR_PARSE, "model.vocab: \"%s\" and \"%s\" have the same id", tok->vocab[id],
                        e->string);
        if (!(tok->vocab[id] = strdup(e->string)))
            return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
        size_t len = strlen(e->string);
        if (len > tok->max_token_bytes)
            tok->max_token_bytes = len;
    }
    return GT_OK;
}

static gt_status load_wordpiece(loader *L, const cJSON *model)
{
    gt_tokenizer *tok = L->tok;
    tok->model = TOK_WORDPIECE;
    gt_status status = load_vocab(L, model);
    if (status != GT_OK)
        return status;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    const cJSON *max_chars = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    tok->unk_token = strdup(cJSON_IsString(unk) ? unk->valuestring : "[UNK]");
    tok->prefix = strdup(cJSON_IsString(prefix) ? prefix->valuestring : "##");
    if (!tok->unk_token || !tok->prefix)
        return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
    tok->max_chars_per_word = as_count(max_chars, 100);
    tok->unk_id = gt_strmap_get(&tok->token_ids, tok->unk_token, strlen(tok->unk_token));
    if (tok->unk_id < 0)
        return fail(L, GT_ERR_PARSE, "model.unk_token \"%s\" is not in the vocabulary", tok->unk_token, NULL);
    /* Continuation pieces are looked up without their prefix, so matching a
     * piece inside a word needs no string building. */
    size_t plen = strlen(tok->prefix);
    if (gt_strmap_init(&tok->piece_ids, tok->token_ids.n / 2 + 16) != 0)
        return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
    for (size_t id = 0; id < tok->vocab_size; id++) {
        const char *t = tok->vocab[id];
        if (t && plen && !strncmp(t, tok->prefix, plen) &&
            gt_strmap_put(&tok->piece_ids, t + plen, strlen(t) - plen, (int32_t)id) != 0)
            return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
    }
    return GT_OK;
}

static gt_status add_merge(loader *L, size_t rank, const char *a, size_t a_len, const char *b, size_t b_len)
{
    gt_tokenizer *tok = L->tok;
    int32_t left = gt_strmap_get(&tok->token_ids, a, a_len), right = gt_strmap_get(&tok->token_ids, b, b_len);
    char joined[1024];
    if (a_len + b_len >= sizeof joined)
        return fail(L, GT_ERR_PARSE, "model.merges: a merge of \"%s...\" is longer than 1 KiB", a, NULL);
    memcpy(joined, a, a_len);
    memcpy(joined + a_len, b, b_len);
    joined[a_len + b_len] = '\0';
    int32_t result = gt_strmap_get(&tok->token_ids, joined, a_len + b_len);
    if (left < 0 || right < 0 || result < 0)
        return fail(L, GT_ERR_PARSE, "model.merges: \"%s\" needs tokens that are not all in the vocabulary (%s)",
                    joined, left < 0 ? "left part" : right < 0 ? "right part" : "merged token");
    tok->merge_rank[rank] = (uint32_t)rank;
    tok->merge_result[rank] = result;
    /* A pair listed twice keeps its last rank, as a dictionary built from the list would. */
    if (gt_u64map_put(&tok->merges, ((uint64_t)(uint32_t)left << 32) | (uint32_t)right, (uint32_t)rank) != 0)
        return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
    return GT_OK;
}

static gt_status load_merges(loader *L, const cJSON *model)
{
    gt_tokenizer *tok = L->tok;
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges))
        return fail(L, GT_ERR_PARSE, "model.merges is not an array", NULL, NULL);
    size_t n = (size_t)cJSON_GetArraySize(merges);
    tok->merge_rank = malloc((n ? n : 1) * sizeof *tok->merge_rank);
    tok->merge_result = malloc((n ? n : 1) * sizeof *tok->merge_result);
    if (!tok->merge_rank || !tok->merge_result || gt_u64map_init(&tok->merges, n + 16) != 0)
        return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
    tok->n_merges = n;
    size_t rank = 0;
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        gt_status status;
        if (cJSON_IsString(m)) {  /* "a b": the older format */
            const char *s = m->valuestring, *space = strchr(s, ' ');
            if (!space || strchr(space + 1, ' '))
                return fail(L, GT_ERR_PARSE, "model.merges: \"%s\" is not two tokens separated by one space", s, NULL);
            status = add_merge(L, rank, s, (size_t)(space - s), space + 1, strlen(space + 1));
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {  /* ["a", "b"]: tokenizers >= 0.20 */
            const char *a = m->child->valuestring, *b = m->child->next->valuestring;
            status = add_merge(L, rank, a, strlen(a), b, strlen(b));
        } else {
            return fail(L, GT_ERR_PARSE, "model.merges: an entry is neither \"a b\" nor [\"a\", \"b\"]", NULL, NULL);
        }
        if (status != GT_OK)
            return status;
    }
    return GT_OK;
}

static gt_status load_bpe(loader *L, const cJSON *model)
{
    gt_tokenizer *tok = L->tok;
    tok->model = TOK_BPE;
    gt_status status = load_vocab(L, model);
    if (status == GT_OK)
        status = load_merges(L, model);
    if (status != GT_OK)
        return status;
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble != 0.0)
        return fail(L, GT_ERR_UNSUPPORTED, "model.dropout is set — BPE dropout is random; set it to null", NULL,
                    NULL);
    static const char *const unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, unsupported[i]);
        if (cJSON_IsString(v) && v->valuestring[0])
            return fail(L, GT_ERR_UNSUPPORTED, "model.%s is not supported for BPE (only null)", unsupported[i], NULL);
    }
    if (flag(model, "byte_fallback", 0))
        return fail(L, GT_ERR_UNSUPPORTED, "model.byte_fallback is not supported (only false)", NULL, NULL);
    tok->fuse_unk = flag(model, "fuse_unk", 0);
    tok->ignore_merges = flag(model, "ignore_merges", 0);
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) {
        if (!(tok->unk_token = strdup(unk->valuestring)))
            return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
        tok->unk_id = gt_strmap_get(&tok->token_ids, unk->valuestring, strlen(unk->valuestring));
        if (tok->unk_id < 0)
            return fail(L, GT_ERR_PARSE, "model.unk_token \"%s\" is not in the vocabulary", unk->valuestring, NULL);
    }
    return GT_OK;
}

static gt_status load_model(loader *L, const cJSON *root)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model))
        return fail(L, GT_ERR_PARSE, "no \"model\" object — not a Hugging Face tokenizer.json", NULL, NULL);
    const char *type = type_of(model);
    if (!type)  /* old files leave the type out; the fields tell */
        type = cJSON_GetObjectItemCaseSensitive(model, "merges") ? "BPE"
               : cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix") ? "WordPiece" : "(none)";
    if (!strcmp(type, "WordPiece"))
        return load_wordpiece(L, model);
    if (!strcmp(type, "BPE"))
        return load_bpe(L, model);
    return fail(L, GT_ERR_UNSUPPORTED, "model type \"%s\" is not supported — greentune reads WordPiece and BPE "
                "tokenizers (BERT, ModernBERT, GPT-2 style)", type, NULL);
}

typedef gt_status (*component_loader)(loader *L, const cJSON *node, int depth);

/* The members of a Sequence component, each loaded in turn (one level deep). */
static gt_status load_sequence(loader *L, const cJSON *node, const char *list_key, int depth, component_loader load)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(node, list_key);
    for (const cJSON *item = cJSON_IsArray(list) ? list->child : NULL; item; item = item->next) {
        gt_status status = load(L, item, depth + 1);
        if (status != GT_OK)
            return status;
    }
    return GT_OK;
}

static gt_status load_normalizer(loader *L, const cJSON *node, int depth)
{
    gt_tokenizer *tok = L->tok;
    if (!node || cJSON_IsNull(node))
        return GT_OK;
    const char *type = type_of(node);
    if (!type)
        return fail(L, GT_ERR_PARSE, "normalizer has no type", NULL, NULL);
    if (!strcmp(type, "Sequence") && depth < 2)
        return load_sequence(L, node, "normalizers", depth, load_normalizer);
    if (tok->n_norms == TOK_MAX_STEPS)
        return fail(L, GT_ERR_UNSUPPORTED, "more than 8 normalizers", NULL, NULL);
    norm_step *step = &tok->norms[tok->n_norms];
    memset(step, 0, sizeof *step);
    if (!strcmp(type, "BertNormalizer")) {
        step->kind = NORM_BERT;
        step->clean_text = flag(node, "clean_text", 1);
        step->chinese_chars = flag(node, "handle_chinese_chars", 1);
        step->lowercase = flag(node, "lowercase", 1);
        /* strip_accents: null means "as lowercase" (uncased BERT strips, cased keeps). */
        step->strip_accents = flag(node, "strip_accents", step->lowercase);
    } else if (!strcmp(type, "NFC")) {
        step->kind = NORM_NFC;
    } else if (!strcmp(type, "NFD")) {
        step->kind = NORM_NFD;
    } else if (!strcmp(type, "Lowercase")) {
        step->kind = NORM_LOWERCASE;
    } else if (!strcmp(type, "StripAccents")) {
        step->kind = NORM_STRIP_ACCENTS;
    } else {
        return fail(L, GT_ERR_UNSUPPORTED, "normalizer \"%s\" is not supported (supported: BertNormalizer, NFC, "
                    "NFD, Lowercase, StripAccents, Sequence)", type, NULL);
    }
    tok->n_norms++;
    return GT_OK;
}

static gt_status load_pre_tokenizer(loader *L, const cJSON *node, int depth)
{
    gt_tokenizer *tok = L->tok;
    if (!node || cJSON_IsNull(node))
        return GT_OK;
    const char *type = type_of(node);
    if (!type)
        return fail(L, GT_ERR_PARSE, "pre_tokenizer has no type", NULL, NULL);
    if (!strcmp(type, "Sequence") && depth < 2)
        return load_sequence(L, node, "pretokenizers", depth, load_pre_tokenizer);
    if (tok->n_pres == TOK_MAX_STEPS)
        return fail(L, GT_ERR_UNSUPPORTED, "more than 8 pre-tokenizers", NULL, NULL);
    if (tok->n_pres && tok->pres[tok->n_pres - 1].kind == PRE_BYTE_LEVEL)
        return fail(L, GT_ERR_UNSUPPORTED, "pre_tokenizer: ByteLevel must be the last step", NULL, NULL);
    pre_step *step = &tok->pres[tok->n_pres];
    memset(step, 0, sizeof *step);
    if (!strcmp(type, "BertPreTokenizer")) {
        step->kind = PRE_BERT;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        step->kind = PRE_WHITESPACE_SPLIT;
    } else if (!strcmp(type, "ByteLevel")) {
        step->kind = PRE_BYTE_LEVEL;
        step->add_prefix_space = flag(node, "add_prefix_space", 1);
        step->use_regex = flag(node, "use_regex", 1);
        if (step->add_prefix_space && tok->n_pres)
            return fail(L, GT_ERR_UNSUPPORTED, "pre_tokenizer: ByteLevel with add_prefix_space must be the only "
                        "step", NULL, NULL);
    } else {
        return fail(L, GT_ERR_UNSUPPORTED, "pre_tokenizer \"%s\" is not supported (supported: BertPreTokenizer, "
                    "ByteLevel, WhitespaceSplit, Sequence)", type, NULL);
    }
    tok->n_pres++;
    return GT_OK;
}

static gt_status utf8_to_cps(loader *L, const char *s, gt_cpbuf *out)
{
    size_t len = strlen(s);
    out->n = 0;
    for (size_t i = 0; i < len;)
        if (gt_cpbuf_push(out, gt_utf8_next((const unsigned char *)s, len, &i)) != 0)
            return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
    return GT_OK;
}

static gt_status load_added_tokens(loader *L, const cJSON *root)
{
    gt_tokenizer *tok = L->tok;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!list || cJSON_IsNull(list))
        return GT_OK;
    if (!cJSON_IsArray(list))
        return fail(L, GT_ERR_PARSE, "added_tokens is not an array", NULL, NULL);
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (n > VOCAB_MAX || !(tok->added = calloc(n ? n : 1, sizeof *tok->added)))
        return fail(L, GT_ERR_NOMEM, "too many added_tokens", NULL, NULL);
    gt_cpbuf raw = {0}, tmp = {0}, norm = {0}, stage = {0};
    gt_status status = GT_OK;
    for (const cJSON *e = list->child; e && status == GT_OK; e = e->next) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        int32_t id;
        if (!as_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id) || !cJSON_IsString(content) ||
            !content->valuestring[0]) {
            status = fail(L, GT_ERR_PARSE, "added_tokens: an entry lacks an integer id or a non-empty content", NULL,
                          NULL);
            break;
        }
        added_token *t = &tok->added[tok->n_added++];
        t->id = id;
        t->special = flag(e, "special", 0);
        t->lstrip = flag(e, "lstrip", 0);
        t->rstrip = flag(e, "rstrip", 0);
        t->single_word = flag(e, "single_word", 0);
        t->normalized = flag(e, "normalized", !t->special);
        if (!(t->content = strdup(content->valuestring)) || vocab_reserve(tok, id) != 0) {
            status = fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
            break;
        }
        /* The id names this token from now on, as in Hugging Face's decoder map. */
        free(tok->vocab[id]);
        if (!(tok->vocab[id] = strdup(t->content))) {
            status = fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
            break;
        }
        if ((status = utf8_to_cps(L, t->content, &raw)) != GT_OK)
            break;
        const gt_cpbuf *pattern = &raw;
        if (t->normalized) {  /* matched in normalized text, so normalized itself */
            if (tok_normalize(tok, raw.v, raw.n, &norm, &tmp, &stage) != 0) {
                status = fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
                break;
            }
            pattern = &norm;
            tok->n_added_normalized++;
        }
        t->pattern_len = pattern->n;
        if (pattern->n && !(t->pattern = malloc(pattern->n * sizeof *t->pattern))) {
            status = fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
            break;
        }
        if (pattern->n) {
            memcpy(t->pattern, pattern->v, pattern->n * sizeof *t->pattern);
            uint32_t bucket = t->pattern[0] % 1024;
            tok->added_first[bucket / 8] |= (uint8_t)(1u << (bucket % 8));
        }
    }
    gt_cpbuf_free(&raw);
    gt_cpbuf_free(&tmp);
    gt_cpbuf_free(&norm);
    gt_cpbuf_free(&stage);
    return status;
}

/* The ids of a template's special token: special_tokens[name].ids, else the
 * token's own id. */
static gt_status template_token(loader *L, const cJSON *specials, const char *name, int32_t *ids, size_t *n)
{
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(specials, name);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(entry, "ids");
    if (cJSON_IsArray(list)) {
        for (const cJSON *v = list->child; v; v = v->next) {
            if (*n == TOK_MAX_TEMPLATE || !as_id(v, &ids[*n]))
                return fail(L, GT_ERR_PARSE, "post_processor: special token \"%s\" has bad or too many ids", name,
                            NULL);
            (*n)++;
        }
        return GT_OK;
    }
    int32_t id = gt_tokenizer_token_to_id(L->tok, name);
    if (id < 0 || *n == TOK_MAX_TEMPLATE)
        return fail(L, GT_ERR_PARSE, "post_processor: special token \"%s\" is not defined", name, NULL);
    ids[(*n)++] = id;
    return GT_OK;
}

static gt_status load_template(loader *L, const cJSON *node)
{
    gt_tokenizer *tok = L->tok;
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(node, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(node, "special_tokens");
    if (!cJSON_IsArray(single))
        return fail(L, GT_ERR_PARSE, "post_processor: TemplateProcessing has no \"single\" template", NULL, NULL);
    int seen_sequence = 0;
    for (const cJSON *piece = single->child; piece; piece = piece->next) {
        const cJSON *special = cJSON_GetObjectItemCaseSensitive(piece, "SpecialToken");
        const cJSON *sequence = cJSON_GetObjectItemCaseSensitive(piece, "Sequence");
        if (sequence) {
            if (seen_sequence++)
                return fail(L, GT_ERR_UNSUPPORTED, "post_processor: a single template with two sequences", NULL, NULL);
            continue;
        }
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(special, "id");
        if (!cJSON_IsString(id))
            return fail(L, GT_ERR_PARSE, "post_processor: a template piece is neither SpecialToken nor Sequence", NULL,
                        NULL);
        gt_status status = seen_sequence
                               ? template_token(L, specials, id->valuestring, tok->suffix_ids, &tok->n_suffix_ids)
                               : template_token(L, specials, id->valuestring, tok->prefix_ids, &tok->n_prefix_ids);
        if (status != GT_OK)
            return status;
    }
    return seen_sequence ? GT_OK : fail(L, GT_ERR_PARSE, "post_processor: the single template has no $A", NULL, NULL);
}

/* BertProcessing / RobertaProcessing: {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]}. */
static gt_status load_cls_sep(loader *L, const cJSON *node)
{
    gt_tokenizer *tok = L->tok;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(node, "cls");
    const cJSON *sep = cJSON_GetObjectItemCaseSensitive(node, "sep");
    int32_t cls_id, sep_id;
    if (cJSON_GetArraySize(cls) != 2 || cJSON_GetArraySize(sep) != 2 || !as_id(cls->child->next, &cls_id) ||
        !as_id(sep->child->next, &sep_id))
        return fail(L, GT_ERR_PARSE, "post_processor: cls / sep are not [token, id] pairs", NULL, NULL);
    if (tok->n_prefix_ids == TOK_MAX_TEMPLATE || tok->n_suffix_ids == TOK_MAX_TEMPLATE)
        return fail(L, GT_ERR_UNSUPPORTED, "post_processor: too many special tokens", NULL, NULL);
    tok->prefix_ids[tok->n_prefix_ids++] = cls_id;
    tok->suffix_ids[tok->n_suffix_ids++] = sep_id;
    return GT_OK;
}

static gt_status load_post_processor(loader *L, const cJSON *node, int depth)
{
    if (!node || cJSON_IsNull(node))
        return GT_OK;
    const char *type = type_of(node);
    if (!type)
        return fail(L, GT_ERR_PARSE, "post_processor has no type", NULL, NULL);
    if (!strcmp(type, "TemplateProcessing"))
        return load_template(L, node);
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing"))
        return load_cls_sep(L, node);
    if (!strcmp(type, "ByteLevel"))
        return GT_OK;  /* only adjusts offsets */
    if (!strcmp(type, "Sequence") && depth < 2)
        return load_sequence(L, node, "processors", depth, load_post_processor);
    return fail(L, GT_ERR_UNSUPPORTED, "post_processor \"%s\" is not supported (supported: TemplateProcessing, "
                "BertProcessing, RobertaProcessing, ByteLevel, Sequence)", type, NULL);
}

static gt_status load_decoder(loader *L, const cJSON *node)
{
    gt_tokenizer *tok = L->tok;
    const char *type = node && !cJSON_IsNull(node) ? type_of(node) : NULL;
    tok->decoder = DECODER_NONE;
    if (!type)
        return GT_OK;
    if (!strcmp(type, "WordPiece")) {
        const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(node, "prefix");
        tok->decoder = DECODER_WORDPIECE;
        tok->decoder_cleanup = flag(node, "cleanup", 1);
        if (!(tok->decoder_prefix = strdup(cJSON_IsString(prefix) ? prefix->valuestring : "##")))
            return fail(L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
    } else if (!strcmp(type, "ByteLevel")) {
        tok->decoder = DECODER_BYTE_LEVEL;
    } else {
        tok->decoder = DECODER_UNSUPPORTED;  /* encoding works; decoding says so */
    }
    return GT_OK;
}

static int has_ascii_space(const uint32_t *cps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cps[i] == ' ' || cps[i] == '\t' || cps[i] == '\n' || cps[i] == '\r')
            return 1;
    return 0;
}

/* Whether encoding a text equals encoding its pieces between ASCII spaces,
 * tabs and line breaks one by one: every normalizer here works character by
 * character (NFD / NFC only reorder or compose marks after a starter, and these
 * separators neither compose nor reorder), the BERT and whitespace
 * pre-tokenizers split at them, and no normalized added token contains one. */
static int chunk_independent(const gt_tokenizer *tok)
{
    if (tok->n_pres == 0)
        return 0;
    for (size_t i = 0; i < tok->n_pres; i++)
        if (tok->pres[i].kind != PRE_BERT && tok->pres[i].kind != PRE_WHITESPACE_SPLIT)
            return 0;
    for (size_t k = 0; k < tok->n_added; k++)
        if (tok->added[k].normalized && has_ascii_space(tok->added[k].pattern, tok->added[k].pattern_len))
            return 0;
    return 1;
}

static int32_t first_known(const gt_tokenizer *tok, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = gt_tokenizer_token_to_id(tok, *names);
        if (id >= 0)
            return id;
    }
    return -1;
}

static void find_special_ids(gt_tokenizer *tok, const cJSON *root)
{
    static const char *const pad[] = {"[PAD]", "<pad>", "<|padding|>", NULL};
    static const char *const cls[] = {"[CLS]", "<s>", "<cls>", NULL};
    static const char *const sep[] = {"[SEP]", "</s>", "<sep>", NULL};
    static const char *const mask[] = {"[MASK]", "<mask>", NULL};
    static const char *const unk[] = {"[UNK]", "<unk>", NULL};
    const cJSON *padding = cJSON_GetObjectItemCaseSensitive(root, "padding");
    int32_t id;
    tok->pad_id = cJSON_IsObject(padding) && as_id(cJSON_GetObjectItemCaseSensitive(padding, "pad_id"), &id)
                      ? id : first_known(tok, pad);
    tok->cls_id = first_known(tok, cls);
    tok->sep_id = first_known(tok, sep);
    tok->mask_id = first_known(tok, mask);
    if (tok->unk_id < 0)
        tok->unk_id = first_known(tok, unk);
    const cJSON *truncation = cJSON_GetObjectItemCaseSensitive(root, "truncation");
    const cJSON *max_length = cJSON_GetObjectItemCaseSensitive(truncation, "max_length");
    if (cJSON_IsObject(truncation))
        tok->truncation_max_len = as_count(max_length, 0);
}

/* Every id the tokenizer can emit indexes the model's embedding table, which
 * has vocab_size rows: the post processor's and the padding's ids come from the
 * file on their own and must be inside the vocabulary too (a template id of
 * 335 in a 331-token vocabulary was found by fuzz_tokenizer_json). */
static gt_status check_emitted_ids(loader *L)
{
    const gt_tokenizer *tok = L->tok;
    char id[32], size[32];
    snprintf(size, sizeof size, "%zu", tok->vocab_size);
    for (size_t i = 0; i < tok->n_prefix_ids + tok->n_suffix_ids; i++) {
        int32_t v = i < tok->n_prefix_ids ? tok->prefix_ids[i] : tok->suffix_ids[i - tok->n_prefix_ids];
        snprintf(id, sizeof id, "%d", (int)v);
        if ((size_t)v >= tok->vocab_size)
            return fail(L, GT_ERR_PARSE, "post_processor: special token id %s is outside the vocabulary of %s tokens",
                        id, size);
    }
    snprintf(id, sizeof id, "%d", (int)tok->pad_id);
    if (tok->pad_id >= 0 && (size_t)tok->pad_id >= tok->vocab_size)
        return fail(L, GT_ERR_PARSE, "padding.pad_id %s is outside the vocabulary of %s tokens", id, size);
    return GT_OK;
}

gt_status gt_tokenizer_from_json(gt_tokenizer **out, const char *json, size_t len, const char *name, gt_error *err)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return gt_error_set(err, GT_ERR_PARSE, "%s: not a JSON object — is it a tokenizer.json?", name);
    }
    gt_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        cJSON_Delete(root);
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", name);
    }
    tok->unk_id = tok->pad_id = tok->cls_id = tok->sep_id = tok->mask_id = -1;
    loader L = {tok, name, err};
    /* The normalizer comes before the added tokens: normalized ones are matched
     * in normalized form. */
    gt_status status = load_model(&L, root);
    if (status == GT_OK)
        status = load_normalizer(&L, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0);
    if (status == GT_OK)
        status = load_pre_tokenizer(&L, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0);
    if (status == GT_OK)
        status = load_added_tokens(&L, root);
    if (status == GT_OK)
        status = load_post_processor(&L, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), 0);
    if (status == GT_OK)
        status = load_decoder(&L, cJSON_GetObjectItemCaseSensitive(root, "decoder"));
    if (status == GT_OK) {
        for (size_t i = 0; i < tok->n_pres; i++)
            tok->byte_level |= tok->pres[i].kind == PRE_BYTE_LEVEL;
        if (tok->byte_level && tok->model != TOK_BPE)
            status = fail(&L, GT_ERR_UNSUPPORTED, "a ByteLevel pre-tokenizer needs a BPE model", NULL, NULL);
        for (unsigned b = 0; b < 256 && tok->byte_level; b++) {
            char ch[4];
            size_t n = gt_utf8_put(tok_byte_char(b), ch);
            tok->byte_ids[b] = gt_strmap_get(&tok->token_ids, ch, n);
        }
        tok->chunkable = chunk_independent(tok);
        find_special_ids(tok, root);
        if (status == GT_OK)
            status = check_emitted_ids(&L);
        if (status == GT_OK && !(tok->json = malloc(len + 1)))
            status = fail(&L, GT_ERR_NOMEM, "out of memory", NULL, NULL);
        if (status == GT_OK) {
            memcpy(tok->json, json, len);
            tok->json[len] = '\0';
            tok->json_len = len;
        }
    }
    cJSON_Delete(root);
    if (status != GT_OK) {
        gt_tokenizer_free(tok);
        return status;
    }
    *out = tok;
    return GT_OK;
}

gt_status gt_tokenizer_load(gt_tokenizer **out, const char *path, gt_error *err)
{
    *out = NULL;
    char *json;
    size_t len;
    gt_status status = gt_read_file(path, TOKENIZER_FILE_MAX, &json, &len, err);
    if (status != GT_OK)
        return status;
    status = gt_tokenizer_from_json(out, json, len, path, err);
    free(json);
    return status;
}

gt_status gt_tokenizer_save(const gt_tokenizer *tok, const char *path, gt_error *err)
{
    return gt_write_file_atomic(path, tok->json, tok->json_len, err);
}

void gt_tokenizer_free(gt_tokenizer *tok)
{
    if (!tok)
        return;
    for (size_t i = 0; i < tok->vocab_size; i++)
        free(tok->vocab[i]);
    free(tok->vocab);
    gt_strmap_free(&tok->token_ids);
    gt_strmap_free(&tok->piece_ids);
    gt_u64map_free(&tok->merges);
    free(tok->merge_rank);
    free(tok->merge_result);
    for (size_t k = 0; k < tok->n_added; k++) {
        free(tok->added[k].content);
        free(tok->added[k].pattern);
    }
    free(tok->added);
    free(tok->unk_token);
    free(tok->prefix);
    free(tok->decoder_prefix);
    free(tok->json);
    free(tok);
}
