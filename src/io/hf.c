/* Facts from Hugging Face model files: config.json as a config tree, and what a
 * tokenizer.json declares (model type, vocabulary, special tokens, the
 * normalization and pre-tokenization pipeline) for `greentune inspect`. */
#include "greentune/hf.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io_internal.h"

gt_status gt_hf_load_config(const char *model_dir, gt_config **out, gt_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    struct stat st;
    if (stat(path, &st) != 0) {
        *out = NULL;
        return gt_io_error(err, GT_ERR_NOT_FOUND, "%s: no config.json (not a Hugging Face model directory?)",
                           model_dir);
    }
    return gt_config_load(path, out, err);
}

static const cJSON *member(const cJSON *object, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(object, key);
}

static void append(char *out, size_t cap, const char *text)
{
    size_t used = strlen(out);
    if (used + 1 < cap)
        gt_copy_display_text(out + used, cap - used, text);
}

/* "BertNormalizer", or "Sequence(NFC, Lowercase)" for a sequence of components;
 * "" for null. depth bounds the recursion (the JSON itself is bounded too). */
static void component_name(const cJSON *c, char *out, size_t cap, int depth)
{
    const cJSON *type = member(c, "type");
    if (!cJSON_IsObject(c) || depth > 8)
        return;
    append(out, cap, cJSON_IsString(type) ? type->valuestring : "?");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "Sequence"))
        return;
    for (const cJSON *m = c->child; m; m = m->next) {
        if (!cJSON_IsArray(m))
            continue;
        append(out, cap, "(");
        for (const cJSON *e = m->child; e; e = e->next) {
            component_name(e, out, cap, depth + 1);
            if (e->next)
                append(out, cap, ", ");
        }
        append(out, cap, ")");
        return;
    }
}

/* Whether the normalizer lowercases: BertNormalizer's flag or a Lowercase step. */
static int lowercases(const cJSON *c, int depth)
{
    const cJSON *type = member(c, "type");
    if (!cJSON_IsString(type) || depth > 8)
        return 0;
    if (!strcmp(type->valuestring, "Lowercase"))
        return 1;
    if (!strcmp(type->valuestring, "BertNormalizer"))
        return cJSON_IsTrue(member(c, "lowercase"));
    for (const cJSON *m = c->child; m; m = m->next)
        for (const cJSON *e = cJSON_IsArray(m) ? m->child : NULL; e; e = e->next)
            if (lowercases(e, depth + 1))
                return 1;
    return 0;
}

/* The model type as written, or inferred the way older files imply it. */
static const char *model_type(const cJSON *model)
{
    const cJSON *type = member(model, "type");
    if (cJSON_IsString(type))
        return type->valuestring;
    if (cJSON_IsArray(member(model, "vocab")))
        return "Unigram";
    if (member(model, "merges"))
        return "BPE";
    if (member(model, "continuing_subword_prefix") || member(model, "max_input_chars_per_word"))
        return "WordPiece";
    return NULL;
}

static gt_status read_model(const cJSON *model, const char *label, gt_hf_tokenizer_facts *f, gt_error *err)
{
    if (!cJSON_IsObject(model))
        return gt_io_error(err, GT_ERR_PARSE, "%s: no \"model\" object (not a tokenizer.json?)", label);
    const char *type = model_type(model);
    static const char *const known[] = {"WordPiece", "BPE", "Unigram", "WordLevel"};
    int index = -1;
    for (int i = 0; type && i < 4; i++)
        if (!strcmp(type, known[i]))
            index = i;
    if (index < 0) {
        char shown[64] = "(none)";
        if (type)
            gt_copy_display_text(shown, sizeof shown, type);
        return gt_io_error(err, GT_ERR_UNSUPPORTED,
                           "%s: unknown tokenizer model type \"%s\" (known: WordPiece, BPE, Unigram, WordLevel)", label,
                           shown);
    }
    snprintf(f->model, sizeof f->model, "%s", known[index]);
    const cJSON *vocab = member(model, "vocab");
    int unigram = index == 2;
    if (unigram ? !cJSON_IsArray(vocab) : !cJSON_IsObject(vocab))
        return gt_io_error(err, GT_ERR_PARSE, "%s: model.vocab is missing or not %s", label,
                           unigram ? "a list of [piece, score] pairs" : "a mapping of tokens to ids");
    f->vocab_size = (size_t)cJSON_GetArraySize(vocab);
    const cJSON *merges = member(model, "merges");
    if (index == 1 && !cJSON_IsArray(merges))
        return gt_io_error(err, GT_ERR_PARSE, "%s: BPE model has no \"merges\" list", label);
    f->merges = cJSON_IsArray(merges) ? (size_t)cJSON_GetArraySize(merges) : 0;
    const cJSON *unk = member(model, "unk_token"), *unk_id = member(model, "unk_id");
    if (cJSON_IsString(unk))
        gt_copy_display_text(f->unk_token, sizeof f->unk_token, unk->valuestring);
    else if (unigram && cJSON_IsNumber(unk_id)) {
        const cJSON *piece = cJSON_GetArrayItem(cJSON_GetArrayItem(vocab, unk_id->valueint), 0);
        if (cJSON_IsString(piece))
            gt_copy_display_text(f->unk_token, sizeof f->unk_token, piece->valuestring);
    }
    const cJSON *prefix = member(model, "continuing_subword_prefix");
    if (cJSON_IsString(prefix))
        gt_copy_display_text(f->subword_prefix, sizeof f->subword_prefix, prefix->valuestring);
    return GT_OK;
}

static gt_status read_added_tokens(const cJSON *added, const char *label, gt_hf_tokenizer_facts *f, gt_error *err)
{
    if (!added || cJSON_IsNull(added))
        return GT_OK;
    if (!cJSON_IsArray(added))
        return gt_io_error(err, GT_ERR_PARSE, "%s: added_tokens is not a list", label);
    size_t i = 0;
    for (const cJSON *t = added->child; t; t = t->next, i++) {
        const cJSON *content = member(t, "content");
        if (!cJSON_IsString(content))
            return gt_io_error(err, GT_ERR_PARSE, "%s: added_tokens[%zu] has no \"content\" string", label, i);
        f->added_tokens++;
        if (!cJSON_IsTrue(member(t, "special")))
            continue;
        if (f->special_count < GT_HF_TOKENIZER_SPECIALS)
            gt_copy_display_text(f->specials[f->special_count], sizeof f->specials[0], content->valuestring);
        f->special_count++;
    }
    return GT_OK;
}

gt_status gt_hf_tokenizer_facts_from_tree(const cJSON *root, const char *label, gt_hf_tokenizer_facts *f, gt_error *err)
{
    memset(f, 0, sizeof *f);
    if (!cJSON_IsObject(root))
        return gt_io_error(err, GT_ERR_PARSE, "%s: not a JSON object (not a tokenizer.json?)", label);
    gt_status status = read_model(member(root, "model"), label, f, err);
    if (status == GT_OK)
        status = read_added_tokens(member(root, "added_tokens"), label, f, err);
    if (status != GT_OK)
        return status;
    component_name(member(root, "normalizer"), f->normalizer, sizeof f->normalizer, 0);
    component_name(member(root, "pre_tokenizer"), f->pre_tokenizer, sizeof f->pre_tokenizer, 0);
    component_name(member(root, "post_processor"), f->post_processor, sizeof f->post_processor, 0);
    component_name(member(root, "decoder"), f->decoder, sizeof f->decoder, 0);
    f->lowercase = lowercases(member(root, "normalizer"), 0);
    const cJSON *truncation = member(root, "truncation");
    const cJSON *max_length = member(truncation, "max_length");
    if (cJSON_IsNumber(max_length) && max_length->valuedouble >= 1 && max_length->valuedouble < 1e9)
        f->truncation_max_length = (long)max_length->valuedouble;
    f->padding = cJSON_IsObject(member(root, "padding"));
    return GT_OK;
}

gt_status gt_hf_tokenizer_facts_read(const char *path, gt_hf_tokenizer_facts *facts, gt_error *err)
{
    cJSON *root;
    gt_status status = gt_json_load(path, &root, err);
    if (status != GT_OK)
        return status;
    status = gt_hf_tokenizer_facts_from_tree(root, path, facts, err);
    cJSON_Delete(root);
    return status;
}
