/* greentune inspect FILE|DIR — what a safetensors file, a config.json, a
 * tokenizer.json or a whole Hugging Face model directory holds.
 *
 * Everything is gathered into one JSON report first; --json prints it, and the
 * text output is rendered from it, so both always say the same thing. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "greentune/config.h"
#include "greentune/hf.h"
#include "greentune/safetensors.h"

static const char usage[] =
    "usage: greentune inspect [--json] FILE|DIR\n"
    "\n"
    "Shows what a model file holds:\n"
    "  *.safetensors    every tensor (name, dtype, shape, bytes), the metadata, totals\n"
    "  config.json      the model's key facts (architecture, sizes, attention settings)\n"
    "  tokenizer.json   model type, vocabulary, special tokens, normalizer, pre-tokenizer\n"
    "  DIR              all of these in a Hugging Face model directory\n"
    "Every file is validated; a malformed or hostile one gets one line saying what is\n"
    "wrong, and exit status 1.\n"
    "\n"
    "  --json     print the report as JSON on stdout\n"
    "  -h, --help this text\n";

/* The config.json keys worth showing, in display order. */
static const char *const config_keys[] = {
    "architectures", "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "vocab_size", "max_position_embeddings", "type_vocab_size", "hidden_act", "hidden_activation",
    "global_attn_every_n_layers", "local_attention", "global_rope_theta", "local_rope_theta", "torch_dtype", NULL};

/* --- gathering ------------------------------------------------------------------ */

static cJSON *safetensors_report(const char *path, gt_error *err)
{
    gt_safetensors *st;
    if (gt_safetensors_open(path, &st, err) != GT_OK)
        return NULL;
    cJSON *r = cJSON_CreateObject(), *list = cJSON_CreateArray(), *meta = cJSON_CreateObject();
    cJSON *dtypes = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "path", path);
    cJSON_AddNumberToObject(r, "header_bytes", (double)gt_safetensors_header_bytes(st));
    cJSON_AddNumberToObject(r, "data_bytes", (double)gt_safetensors_data_bytes(st));
    uint64_t params = 0;
    for (size_t i = 0; i < gt_safetensors_count(st); i++) {
        const gt_tensor_info *t = gt_safetensors_tensor(st, i);
        cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "dtype", gt_dtype_name(t->dtype));
        for (int d = 0; d < t->rank; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToObject(o, "shape", shape);
        cJSON_AddNumberToObject(o, "params", (double)t->numel);
        cJSON_AddNumberToObject(o, "bytes", (double)t->nbytes);
        cJSON_AddNumberToObject(o, "offset", (double)t->offset);
        cJSON_AddItemToArray(list, o);
        params += t->numel;
        cJSON *count = cJSON_GetObjectItemCaseSensitive(dtypes, gt_dtype_name(t->dtype));
        if (count)
            cJSON_SetNumberValue(count, count->valuedouble + 1);
        else
            cJSON_AddNumberToObject(dtypes, gt_dtype_name(t->dtype), 1);
    }
    for (size_t i = 0; i < gt_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        gt_safetensors_metadata_at(st, i, &k, &v);
        cJSON_AddStringToObject(meta, k, v);
    }
    cJSON *total = cJSON_AddObjectToObject(r, "total");
    cJSON_AddNumberToObject(total, "tensors", (double)gt_safetensors_count(st));
    cJSON_AddNumberToObject(total, "params", (double)params);
    cJSON_AddNumberToObject(total, "bytes", (double)gt_safetensors_data_bytes(st));
    cJSON_AddItemToObject(r, "dtypes", dtypes);
    cJSON_AddItemToObject(r, "metadata", meta);
    cJSON_AddItemToObject(r, "tensors", list);
    gt_safetensors_close(st);
    return r;
}

static int is_config(const cJSON *root)
{
    return cJSON_GetObjectItemCaseSensitive(root, "model_type") ||
           cJSON_GetObjectItemCaseSensitive(root, "architectures");
}

static int is_tokenizer(const cJSON *root)
{
    static const char *const markers[] = {"added_tokens", "normalizer", "pre_tokenizer", "decoder", NULL};
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "model")))
        return 0;
    for (const char *const *m = markers; *m; m++)
        if (cJSON_GetObjectItemCaseSensitive(root, *m))
            return 1;
    return 0;
}

static cJSON *config_report(const char *path, const cJSON *root)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "path", path);
    for (const char *const *k = config_keys; *k; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, *k);
        if (v)
            cJSON_AddItemToObject(r, *k, cJSON_Duplicate(v, 1));
    }
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    if (cJSON_IsObject(labels))
        cJSON_AddNumberToObject(r, "num_labels", cJSON_GetArraySize(labels));
    return r;
}

static void add_text_or_null(cJSON *o, const char *key, const char *text)
{
    cJSON_AddItemToObject(o, key, text[0] ? cJSON_CreateString(text) : cJSON_CreateNull());
}

static cJSON *tokenizer_report(const char *path, const cJSON *root, gt_error *err)
{
    gt_hf_tokenizer_facts f;
    if (gt_hf_tokenizer_facts_from_tree(root, path, &f, err) != GT_OK)
        return NULL;
    cJSON *r = cJSON_CreateObject(), *specials = cJSON_CreateArray();
    cJSON_AddStringToObject(r, "path", path);
    cJSON_AddStringToObject(r, "model", f.model);
    cJSON_AddNumberToObject(r, "vocab_size", (double)f.vocab_size);
    cJSON_AddNumberToObject(r, "merges", (double)f.merges);
    cJSON_AddNumberToObject(r, "added_tokens", (double)f.added_tokens);
    for (size_t i = 0; i < f.special_count && i < GT_HF_TOKENIZER_SPECIALS; i++)
        cJSON_AddItemToArray(specials, cJSON_CreateString(f.specials[i]));
    cJSON_AddItemToObject(r, "special_tokens", specials);
    cJSON_AddNumberToObject(r, "special_tokens_total", (double)f.special_count);
    add_text_or_null(r, "unk_token", f.unk_token);
    add_text_or_null(r, "continuing_subword_prefix", f.subword_prefix);
    add_text_or_null(r, "normalizer", f.normalizer);
    add_text_or_null(r, "pre_tokenizer", f.pre_tokenizer);
    add_text_or_null(r, "post_processor", f.post_processor);
    add_text_or_null(r, "decoder", f.decoder);
    cJSON_AddBoolToObject(r, "lowercase", f.lowercase);
    cJSON_AddItemToObject(r, "truncation_max_length",
                          f.truncation_max_length ? cJSON_CreateNumber((double)f.truncation_max_length)
                                                  : cJSON_CreateNull());
    cJSON_AddBoolToObject(r, "padding", f.padding);
    return r;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* A safetensors file by name, or by its first bytes: a length, then '{'. */
static int looks_like_safetensors(const char *path)
{
    if (ends_with(path, ".safetensors"))
        return 1;
    unsigned char head[9];
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    return got == sizeof head && head[8] == '{' && head[7] == 0 && head[6] == 0;
}

/* Adds the report of one file to report under "safetensors", "config" or "tokenizer". */
static gt_status inspect_file(cJSON *report, const char *path, gt_error *err)
{
    struct stat info;
    if (stat(path, &info) != 0 || !S_ISREG(info.st_mode))
        return gt_error_set(err, GT_ERR_INVALID, "%s: not a regular file", path);
    if (looks_like_safetensors(path)) {
        cJSON *st = safetensors_report(path, err);
        if (!st)
            return err->status;
        cJSON *list = cJSON_GetObjectItemCaseSensitive(report, "safetensors");
        if (!list)
            list = cJSON_AddArrayToObject(report, "safetensors");
        cJSON_AddItemToArray(list, st);
        return GT_OK;
    }
    cJSON *root;
    gt_status status = gt_json_load(path, &root, err);
    if (status != GT_OK) {
        if (!ends_with(path, ".json") && status == GT_ERR_PARSE)
            return gt_error_set(err, GT_ERR_PARSE,
                                "%s: not a safetensors, config.json or tokenizer.json file", path);
        return status;
    }
    cJSON *part = NULL;
    if (is_tokenizer(root)) {
        part = tokenizer_report(path, root, err);
        if (part)
            cJSON_AddItemToObject(report, "tokenizer", part);
    } else if (is_config(root)) {
        part = config_report(path, root);
        cJSON_AddItemToObject(report, "config", part);
    } else {
        gt_error_set(err, GT_ERR_PARSE,
                     "%s: JSON, but neither a model config.json (no \"model_type\" or \"architectures\") "
                     "nor a tokenizer.json (no \"model\")",
                     path);
    }
    cJSON_Delete(root);
    return part ? GT_OK : err->status;
}

static int is_safetensors_entry(const struct dirent *e)
{
    return ends_with(e->d_name, ".safetensors");
}

static gt_status inspect_dir(cJSON *report, const char *dir, gt_error *err)
{
    char path[4096];
    struct stat st;
    int found = 0;
    static const char *const singles[] = {"config.json", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, singles[i]);
        if (stat(path, &st) != 0)
            continue;
        found++;
        if (inspect_file(report, path, err) != GT_OK)
            return err->status;
    }
    struct dirent **entries;
    int n = scandir(dir, &entries, is_safetensors_entry, alphasort);
    if (n < 0)
        return gt_error_set(err, GT_ERR_IO, "%s: cannot list the directory", dir);
    gt_status status = GT_OK;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
        if (status == GT_OK)
            status = inspect_file(report, path, err);
        free(entries[i]);
    }
    free(entries);
    if (status == GT_OK && found + n == 0)
        return gt_error_set(err, GT_ERR_NOT_FOUND,
                            "%s: no config.json, tokenizer.json or *.safetensors here (not a model directory?)", dir);
    return status;
}

/* --- text output ------------------------------------------------------------------- */

/* Prints file-supplied text with control characters shown as '?', at most max bytes. */
static void put_text(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] && n < max; n++)
        putchar((unsigned char)s[n] < 0x20 || s[n] == 0x7F ? '?' : s[n]);
    if (s[n])
        fputs("...", stdout);
}

static void put_number(double v)
{
    if (v == (double)(int64_t)v && v > -1e15 && v < 1e15)
        printf("%lld", (long long)v);
    else
        printf("%g", v);
}

static void put_value(const cJSON *v)
{
    if (cJSON_IsString(v))
        put_text(v->valuestring, 200);
    else if (cJSON_IsNumber(v))
        put_number(v->valuedouble);
    else if (cJSON_IsBool(v))
        fputs(cJSON_IsTrue(v) ? "true" : "false", stdout);
    else if (cJSON_IsNull(v))
        fputs("none", stdout);
    else if (cJSON_IsArray(v))
        for (const cJSON *e = v->child; e; e = e->next) {
            put_value(e);
            if (e->next)
                fputs(", ", stdout);
        }
    else
        fputs("{...}", stdout);
}

static void put_row(const char *label, const cJSON *v)
{
    printf("  %-28s ", label);
    put_value(v);
    putchar('\n');
}

static const cJSON *item(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* 1234567 -> "1,234,567" */
static const char *grouped(double v, char *buf, size_t cap)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%.0f", v);
    size_t n = strlen(digits), k = 0;
    for (size_t i = 0; i < n && k + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

static const char *human_bytes(double bytes, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4)
        bytes /= 1024, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

static void print_config(const cJSON *c)
{
    printf("%s\n", item(c, "path")->valuestring);
    for (const cJSON *v = c->child; v; v = v->next)
        if (strcmp(v->string, "path"))
            put_row(v->string, v);
}

static void print_tokenizer(const cJSON *t)
{
    printf("%s\n", item(t, "path")->valuestring);
    char a[32], b[32];
    printf("  %-28s %s, %s tokens", "model", item(t, "model")->valuestring,
           grouped(item(t, "vocab_size")->valuedouble, a, sizeof a));
    if (item(t, "merges")->valuedouble > 0)
        printf(", %s merges", grouped(item(t, "merges")->valuedouble, b, sizeof b));
    printf(" (+%s added)\n", grouped(item(t, "added_tokens")->valuedouble, b, sizeof b));
    printf("  %-28s ", "special tokens");
    for (const cJSON *s = item(t, "special_tokens")->child; s; s = s->next) {
        put_text(s->valuestring, 48);
        if (s->next)
            putchar(' ');
    }
    if (item(t, "special_tokens_total")->valuedouble > cJSON_GetArraySize(item(t, "special_tokens")))
        printf(" ... (%.0f in all)", item(t, "special_tokens_total")->valuedouble);
    putchar('\n');
    static const char *const rows[] = {"unk_token", "continuing_subword_prefix", "normalizer", "pre_tokenizer",
                                       "post_processor", "decoder", "lowercase", "truncation_max_length", "padding",
                                       NULL};
    for (const char *const *r = rows; *r; r++)
        put_row(*r, item(t, *r));
}

static void put_shape(const cJSON *shape, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (const cJSON *d = shape->child; d && k < cap; d = d->next)
        k += (size_t)snprintf(buf + k, cap - k, "%.0f%s", d->valuedouble, d->next ? ", " : "");
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

static void print_safetensors(const cJSON *s)
{
    const cJSON *total = item(s, "total"), *tensors = item(s, "tensors");
    char a[32], b[32], c[32], d[32];
    printf("%s: %s tensors, %s parameters, %s of data (header %s)\n", item(s, "path")->valuestring,
           grouped(item(total, "tensors")->valuedouble, a, sizeof a),
           grouped(item(total, "params")->valuedouble, b, sizeof b),
           human_bytes(item(total, "bytes")->valuedouble, c, sizeof c),
           human_bytes(item(s, "header_bytes")->valuedouble, d, sizeof d));
    int name_width = 4, shape_width = 5;
    char shape[256];
    for (const cJSON *t = tensors->child; t; t = t->next) {
        int n = (int)strlen(item(t, "name")->valuestring);
        name_width = n > name_width ? (n < 80 ? n : 80) : name_width;
        put_shape(item(t, "shape"), shape, sizeof shape);
        shape_width = (int)strlen(shape) > shape_width ? (int)strlen(shape) : shape_width;
    }
    printf("  %-*s  %-5s  %-*s  %12s\n", name_width, "name", "dtype", shape_width, "shape", "bytes");
    for (const cJSON *t = tensors->child; t; t = t->next) {
        const char *name = item(t, "name")->valuestring;
        fputs("  ", stdout);
        put_text(name, 80);
        int shown = (int)strlen(name) > 80 ? 83 : (int)strlen(name);
        put_shape(item(t, "shape"), shape, sizeof shape);
        printf("%*s  %-5s  %-*s  %12s\n", name_width - shown, "", item(t, "dtype")->valuestring, shape_width, shape,
               grouped(item(t, "bytes")->valuedouble, a, sizeof a));
    }
    printf("  dtypes:");
    for (const cJSON *dt = item(s, "dtypes")->child; dt; dt = dt->next)
        printf(" %s x%.0f", dt->string, dt->valuedouble);
    putchar('\n');
    const cJSON *meta = item(s, "metadata");
    if (meta->child) {
        printf("  metadata:\n");
        for (const cJSON *m = meta->child; m; m = m->next) {
            fputs("    ", stdout);
            put_text(m->string, 60);
            fputs(": ", stdout);
            put_text(m->valuestring, 200);
            putchar('\n');
        }
    }
}

static void print_report(const cJSON *report)
{
    int first = 1;
    const cJSON *part;
    if ((part = item(report, "config"))) {
        print_config(part);
        first = 0;
    }
    if ((part = item(report, "tokenizer"))) {
        if (!first)
            putchar('\n');
        print_tokenizer(part);
        first = 0;
    }
    for (part = item(report, "safetensors") ? item(report, "safetensors")->child : NULL; part; part = part->next) {
        if (!first)
            putchar('\n');
        print_safetensors(part);
        first = 0;
    }
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            return cli_usage_error("inspect");
        }
    }
    if (optind != argc - 1)
        return cli_fail(CLI_EXIT_USAGE, "inspect: expected one FILE or DIR; see 'greentune inspect --help'");
    const char *path = argv[optind];
    struct stat st;
    if (stat(path, &st) != 0)
        return cli_fail(CLI_EXIT_FAILURE, "%s: %s", path, strerror(errno));
    cJSON *report = cJSON_CreateObject();
    cJSON_AddStringToObject(report, "path", path);
    gt_error err = {0};
    gt_status status = S_ISDIR(st.st_mode) ? inspect_dir(report, path, &err) : inspect_file(report, path, &err);
    if (status != GT_OK) {
        cJSON_Delete(report);
        return cli_fail_error(&err);
    }
    if (json) {
        char *text = gt_json_print(report);
        fputs(text ? text : "{}\n", stdout);
        free(text);
    } else {
        print_report(report);
    }
    cJSON_Delete(report);
    return 0;
}
