/* The configuration tree: loading YAML or JSON into cJSON, typed getters that
 * name the file, line and key on a wrong value, --set overrides, unknown-key
 * detection with suggestions, and paths relative to the config file. */
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/fileio.h"
#include "io/config_internal.h"
#include "io/io_internal.h"
#include "util/text.h"

/* --- construction ------------------------------------------------------------ */

static gt_config *config_new(const char *label, const char *path)
{
    gt_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    cfg->label = strdup(label);
    char *copy = strdup(path ? path : ".");
    cfg->dir = copy ? strdup(path ? dirname(copy) : ".") : NULL;
    free(copy);
    if (!cfg->label || !cfg->dir) {
        gt_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void gt_config_free(gt_config *cfg)
{
    if (!cfg)
        return;
    cJSON_Delete(cfg->root);
    free(cfg->label);
    free(cfg->dir);
    free(cfg->positions);
    for (size_t i = 0; i < cfg->source_count; i++)
        free(cfg->sources[i]);
    free(cfg->sources);
    free(cfg);
}

int gt_config_note(gt_config *cfg, const cJSON *node, const char *source, int line, int column, int key_line,
                   int key_column)
{
    if (cfg->position_count == cfg->position_cap) {
        size_t cap = cfg->position_cap ? 2 * cfg->position_cap : 64;
        gt_config_position *p = realloc(cfg->positions, cap * sizeof *p);
        if (!p)
            return 0;
        cfg->positions = p;
        cfg->position_cap = cap;
    }
    cfg->positions[cfg->position_count++] = (gt_config_position){node, source, line, column, key_line, key_column};
    return 1;
}

const gt_config_position *gt_config_position_of(const gt_config *cfg, const cJSON *node)
{
    /* Newest first: a --set may have freed a node whose address a later one reuses. */
    for (size_t i = cfg->position_count; node && i-- > 0;)
        if (cfg->positions[i].node == node)
            return &cfg->positions[i];
    return NULL;
}

/* "pipeline.yaml:4:7", "--set train.lr=x" or "pipeline.yaml": where node (or its key) was written. */
static void where(const gt_config *cfg, const cJSON *node, int of_key, char *buf, size_t cap)
{
    const gt_config_position *p = gt_config_position_of(cfg, node);
    int line = p ? (of_key ? p->key_line : p->line) : 0;
    int column = p ? (of_key ? p->key_column : p->column) : 0;
    if (line > 0)
        snprintf(buf, cap, "%s:%d:%d", p->source, line, column);
    else
        snprintf(buf, cap, "%s", p ? p->source : cfg->label);
}

static gt_status require_mapping(gt_config *cfg, gt_config **out, gt_error *err)
{
    if (!cfg->root)
        cfg->root = cJSON_CreateObject(); /* an empty file is an empty mapping */
    if (!cfg->root) {
        gt_config_free(cfg);
        return gt_io_error(err, GT_ERR_NOMEM, "out of memory");
    }
    if (!cJSON_IsObject(cfg->root)) {
        gt_status status = gt_io_error(err, GT_ERR_PARSE, "%s: the top level must be a mapping of keys to values",
                                       cfg->label);
        gt_config_free(cfg);
        return status;
    }
    *out = cfg;
    return GT_OK;
}

static gt_status parse_yaml_into(gt_config *cfg, const char *text, size_t len, gt_config **out, gt_error *err)
{
    gt_status status = gt_yaml_parse(cfg, text, len, cfg->label, 1, &cfg->root, err);
    if (status != GT_OK) {
        gt_config_free(cfg);
        return status;
    }
    return require_mapping(cfg, out, err);
}

static gt_status parse_json_into(gt_config *cfg, const char *text, size_t len, gt_config **out, gt_error *err)
{
    gt_status status = gt_json_parse(text, len, cfg->label, &cfg->root, err);
    if (status != GT_OK) {
        gt_config_free(cfg);
        return status;
    }
    return require_mapping(cfg, out, err);
}

gt_status gt_config_parse_yaml(const char *text, size_t len, const char *label, gt_config **out, gt_error *err)
{
    *out = NULL;
    gt_config *cfg = config_new(label, NULL);
    if (!cfg)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory", label);
    return parse_yaml_into(cfg, text, len, out, err);
}

gt_status gt_config_parse_json(const char *text, size_t len, const char *label, gt_config **out, gt_error *err)
{
    *out = NULL;
    gt_config *cfg = config_new(label, NULL);
    if (!cfg)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory", label);
    return parse_json_into(cfg, text, len, out, err);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

gt_status gt_config_load(const char *path, gt_config **out, gt_error *err)
{
    *out = NULL;
    int json = ends_with(path, ".json");
    char *text;
    size_t len;
    gt_status status = gt_read_file(path, json ? GT_CONFIG_MAX_JSON_BYTES : GT_CONFIG_MAX_YAML_BYTES, &text, &len,
                                    err);
    if (status != GT_OK)
        return status;
    gt_config *cfg = config_new(path, path);
    if (!cfg) {
        free(text);
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory", path);
    }
    status = json ? parse_json_into(cfg, text, len, out, err) : parse_yaml_into(cfg, text, len, out, err);
    free(text);
    return status;
}

const cJSON *gt_config_root(const gt_config *cfg)
{
    return cfg->root;
}

const char *gt_config_label(const gt_config *cfg)
{
    return cfg->label;
}

/* --- paths ------------------------------------------------------------------- */

/* The child named by one path segment: a key of a mapping, an index of a list. */
static cJSON *child(const cJSON *node, const char *segment)
{
    if (cJSON_IsObject(node))
        return cJSON_GetObjectItemCaseSensitive(node, segment);
    if (!cJSON_IsArray(node) || !*segment || strspn(segment, "0123456789") != strlen(segment) ||
        strlen(segment) > 9)
        return NULL;
    return cJSON_GetArrayItem(node, atoi(segment));
}

const cJSON *gt_config_get(const gt_config *cfg, const char *path)
{
    const cJSON *node = cfg->root;
    char segment[256];
    for (const char *p = path; node && *p;) {
        size_t n = strcspn(p, ".");
        if (n == 0 || n >= sizeof segment)
            return NULL;
        memcpy(segment, p, n);
        segment[n] = '\0';
        node = child(node, segment);
        p += n + (p[n] == '.');
    }
    return node;
}

/* --- typed getters --------------------------------------------------------------- */

gt_status gt_config_error(const gt_config *cfg, const cJSON *node, const char *path, gt_error *err,
                          gt_status status, const char *fmt, ...)
{
    char place[GT_ERROR_MESSAGE_MAX], message[GT_ERROR_MESSAGE_MAX];
    where(cfg, node, 0, place, sizeof place);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (path && *path)
        return gt_io_error(err, status, "%s: %s: %s", place, path, message);
    return gt_io_error(err, status, "%s: %s", place, message);
}

/* How a value reads in a message: "abc" (quoted), 5.5, true, null, a list, a mapping. */
static void describe(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v))
        snprintf(buf, cap, "\"%.60s\"", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(buf, cap, "%.17g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v))
        snprintf(buf, cap, "null");
    else
        snprintf(buf, cap, "%s", cJSON_IsArray(v) ? "a list" : "a mapping");
}

static gt_status wrong_type(const gt_config *cfg, const cJSON *v, const char *path, const char *expected,
                            gt_error *err)
{
    char got[128];
    describe(v, got, sizeof got);
    return gt_config_error(cfg, v, path, err, GT_ERR_INVALID, "expected %s, got %s", expected, got);
}

/* The value at path, or NULL when absent or null (both mean "use the default"). */
static const cJSON *value_at(const gt_config *cfg, const char *path)
{
    const cJSON *v = gt_config_get(cfg, path);
    return cJSON_IsNull(v) ? NULL : v;
}

gt_status gt_config_number(const gt_config *cfg, const char *path, double def, double min, double max,
                           double *out, gt_error *err)
{
    const cJSON *v = value_at(cfg, path);
    *out = def;
    if (!v)
        return GT_OK;
    if (!cJSON_IsNumber(v))
        return wrong_type(cfg, v, path, "a number", err);
    if (!(v->valuedouble >= min && v->valuedouble <= max))
        return gt_config_error(cfg, v, path, err, GT_ERR_INVALID, "%g is out of range [%g, %g]", v->valuedouble,
                               min, max);
    *out = v->valuedouble;
    return GT_OK;
}

gt_status gt_config_int(const gt_config *cfg, const char *path, long long def, long long min, long long max,
                        long long *out, gt_error *err)
{
    const cJSON *v = value_at(cfg, path);
    *out = def;
    if (!v)
        return GT_OK;
    /* Numbers are doubles: integers are exact up to 2^53. */
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9007199254740992.0)
        return wrong_type(cfg, v, path, "an integer", err);
    long long n = (long long)v->valuedouble;
    if (n < min || n > max)
        return gt_config_error(cfg, v, path, err, GT_ERR_INVALID, "%lld is out of range [%lld, %lld]", n, min, max);
    *out = n;
    return GT_OK;
}

gt_status gt_config_bool(const gt_config *cfg, const char *path, int def, int *out, gt_error *err)
{
    const cJSON *v = value_at(cfg, path);
    *out = def;
    if (!v)
        return GT_OK;
    if (!cJSON_IsBool(v))
        return wrong_type(cfg, v, path, "true or false", err);
    *out = cJSON_IsTrue(v);
    return GT_OK;
}

gt_status gt_config_string(const gt_config *cfg, const char *path, const char *def, const char **out,
                           gt_error *err)
{
    const cJSON *v = value_at(cfg, path);
    *out = def;
    if (!v)
        return GT_OK;
    if (!cJSON_IsString(v)) {
        char got[128];
        describe(v, got, sizeof got);
        return gt_config_error(cfg, v, path, err, GT_ERR_INVALID, "expected a string, got %s%s", got,
                               cJSON_IsNumber(v) || cJSON_IsBool(v) ? " (quote it to make it a string)" : "");
    }
    *out = v->valuestring;
    return GT_OK;
}

static int from_command_line(const gt_config *cfg, const cJSON *node)
{
    const gt_config_position *p = gt_config_position_of(cfg, node);
    for (size_t i = 0; p && i < cfg->source_count; i++)
        if (p->source == cfg->sources[i])
            return 1;
    return 0;
}

gt_status gt_config_path(const gt_config *cfg, const char *path, const char *def, char **out, gt_error *err)
{
    *out = NULL;
    const char *value;
    gt_status status = gt_config_string(cfg, path, def, &value, err);
    if (status != GT_OK || !value)
        return status;
    const cJSON *node = value_at(cfg, path);
    if (!*value)
        return gt_config_error(cfg, node, path, err, GT_ERR_INVALID, "empty path");
    int as_given = value[0] == '/' || !strcmp(cfg->dir, ".") || (node && from_command_line(cfg, node));
    size_t n = strlen(cfg->dir) + strlen(value) + 2;
    *out = malloc(n);
    if (!*out)
        return gt_io_error(err, GT_ERR_NOMEM, "out of memory");
    if (as_given)
        snprintf(*out, n, "%s", value);
    else
        snprintf(*out, n, "%s/%s", cfg->dir, value);
    return GT_OK;
}

/* --- --set ----------------------------------------------------------------------- */

/* Walks to the container that will hold the last segment of key, creating
 * mappings on the way; *last points at that segment. */
static gt_status walk_for_set(gt_config *cfg, const char *key, const char *source, cJSON **container,
                              const char **last, gt_error *err)
{
    cJSON *node = cfg->root;
    char segment[256];
    const char *p = key;
    for (;;) {
        size_t n = strcspn(p, ".");
        if (n == 0 || n >= sizeof segment)
            return gt_io_error(err, GT_ERR_INVALID, "%s: \"%.100s\" is not a key path (a.b.c)", source, key);
        if (!p[n]) {
            *container = node;
            *last = p;
            return GT_OK;
        }
        memcpy(segment, p, n);
        segment[n] = '\0';
        cJSON *next = child(node, segment);
        if (!next && cJSON_IsObject(node)) {
            next = cJSON_AddObjectToObject(node, segment);
            if (!next || !gt_config_note(cfg, next, source, 0, 0, 0, 0))
                return gt_io_error(err, GT_ERR_NOMEM, "out of memory");
        }
        if (!cJSON_IsObject(next) && !cJSON_IsArray(next)) {
            char got[128];
            describe(next, got, sizeof got);
            return gt_io_error(err, GT_ERR_INVALID, "%s: %.*s is %s, not a mapping", source, (int)(p + n - key), key,
                               next ? got : "missing");
        }
        node = next;
        p += n + 1;
    }
}

static int key_segments(const char *key)
{
    int n = 1;
    for (; *key; key++)
        n += *key == '.';
    return n;
}

/* Levels of mappings and lists in a tree: 0 for a scalar. Recursion is bounded
 * by the parsers' depth limit. */
static int nesting(const cJSON *node)
{
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
        return 0;
    int deepest = 0;
    for (const cJSON *c = node->child; c; c = c->next) {
        int d = nesting(c);
        if (d > deepest)
            deepest = d;
    }
    return 1 + deepest;
}

/* Puts value under container[name]: replaces a mapping's key or a list item,
 * or appends right after a list's end. Consumes value. */
static gt_status place(cJSON *container, const char *name, cJSON *value, const char *source, gt_error *err)
{
    if (cJSON_IsObject(container)) {
        if (cJSON_GetObjectItemCaseSensitive(container, name))
            cJSON_ReplaceItemInObjectCaseSensitive(container, name, value);
        else
            cJSON_AddItemToObject(container, name, value);
        return GT_OK;
    }
    int size = cJSON_GetArraySize(container);
    if (strspn(name, "0123456789") == strlen(name) && strlen(name) <= 9) {
        int index = atoi(name);
        if (index < size)
            return cJSON_ReplaceItemInArray(container, index, value), GT_OK;
        if (index == size)
            return cJSON_AddItemToArray(container, value), GT_OK;
    }
    cJSON_Delete(value);
    return gt_io_error(err, GT_ERR_INVALID, "%s: \"%.60s\" is not an index of this list (0 to %d)", source, name, size);
}

gt_status gt_config_set(gt_config *cfg, const char *assignment, gt_error *err)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return gt_io_error(err, GT_ERR_INVALID, "--set %.200s: expected KEY=VALUE (e.g. train.lr=1e-3)", assignment);
    /* libyaml checks the value; the key becomes a mapping key as it is, and a
     * tree with a key that is not UTF-8 cannot be written as JSON (found by
     * fuzz_config_set). */
    size_t bad = gt_utf8_invalid_at((const unsigned char *)assignment, strlen(assignment));
    if (assignment[bad])
        return gt_io_error(err, GT_ERR_INVALID, "--set %.*s...: not UTF-8 text (byte %zu)", (int)(bad < 60 ? bad : 60),
                           assignment, bad);
    char **sources = realloc(cfg->sources, (cfg->source_count + 1) * sizeof *sources);
    if (!sources)
        return gt_io_error(err, GT_ERR_NOMEM, "out of memory");
    cfg->sources = sources;
    size_t n = strlen(assignment) + 7;
    char *source = malloc(n);
    if (!source)
        return gt_io_error(err, GT_ERR_NOMEM, "out of memory");
    snprintf(source, n, "--set %s", assignment);
    cfg->sources[cfg->source_count++] = source;

    char *key = strndup(assignment, (size_t)(eq - assignment));
    if (!key)
        return gt_io_error(err, GT_ERR_NOMEM, "out of memory");
    cJSON *container, *value = NULL;
    const char *last;
    gt_status status = gt_yaml_parse(cfg, eq + 1, strlen(eq + 1), source, 0, &value, err);
    if (status == GT_OK && !value) {
        /* "key=" sets null, which the getters read as "use the default". */
        value = cJSON_CreateNull();
        if (!value || !gt_config_note(cfg, value, source, 0, 0, 0, 0))
            status = gt_io_error(err, GT_ERR_NOMEM, "out of memory");
    }
    /* Every tree must stay within the parsers' depth, or it could not be
     * written out and read back (a run record embeds it; found by
     * fuzz_config_set): the value sits inside one container per key segment. */
    if (status == GT_OK && key_segments(key) + nesting(value) > GT_CONFIG_MAX_DEPTH)
        status = gt_io_error(err, GT_ERR_INVALID, "%s: nested more than %d levels deep", source, GT_CONFIG_MAX_DEPTH);
    if (status == GT_OK)
        status = walk_for_set(cfg, key, source, &container, &last, err);
    if (status == GT_OK)
        status = place(container, last, value, source, err);
    else
        cJSON_Delete(value);
    free(key);
    return status;
}

/* --- unknown keys -------------------------------------------------------------- */

static const char *closest(const char *key, const char *const *allowed)
{
    const char *best = NULL;
    int best_distance = strlen(key) >= 4 ? 2 : 1;
    for (; *allowed; allowed++) {
        int d = text_edit_distance(key, *allowed);
        if (d <= best_distance && (!best || d < text_edit_distance(key, best)))
            best = *allowed, best_distance = d;
    }
    return best;
}

gt_status gt_config_check_keys(const gt_config *cfg, const char *path, const char *const *allowed, gt_error *err)
{
    const cJSON *node = value_at(cfg, path);
    if (!node)
        return GT_OK;
    if (!cJSON_IsObject(node))
        return wrong_type(cfg, node, path, "a mapping", err);
    for (const cJSON *c = node->child; c; c = c->next) {
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = !strcmp(c->string, *a);
        if (known)
            continue;
        char place[GT_ERROR_MESSAGE_MAX], hint[GT_ERROR_MESSAGE_MAX];
        where(cfg, c, 1, place, sizeof place);
        const char *suggestion = closest(c->string, allowed);
        if (suggestion) {
            snprintf(hint, sizeof hint, "did you mean \"%s\"?", suggestion);
        } else {
            size_t used = (size_t)snprintf(hint, sizeof hint, "expected one of:");
            for (const char *const *a = allowed; *a && used < sizeof hint; a++)
                used += (size_t)snprintf(hint + used, sizeof hint - used, "%s %s", a == allowed ? "" : ",", *a);
        }
        return gt_io_error(err, GT_ERR_INVALID, "%s: %s%s%.100s: unknown key (%s)", place, path, *path ? "." : "",
                           c->string, hint);
    }
    return GT_OK;
}

/* --- JSON ------------------------------------------------------------------------ */

/* Rejects nesting deeper than the limit before cJSON recurses into it. */
static size_t json_too_deep_at(const char *text, size_t len)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > GT_CONFIG_MAX_DEPTH)
                return i;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return len;
}

static void line_and_column(const char *text, size_t offset, int *line, int *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n')
            (*line)++, *column = 1;
        else
            (*column)++;
    }
}

gt_status gt_json_parse(const char *text, size_t len, const char *label, cJSON **out, gt_error *err)
{
    *out = NULL;
    int line, column;
    if (len > GT_CONFIG_MAX_JSON_BYTES)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: %zu bytes is over the %u-byte limit for JSON files", label, len,
                           GT_CONFIG_MAX_JSON_BYTES);
    size_t bad = gt_utf8_invalid_at((const unsigned char *)text, len);
    const char *nul = memchr(text, '\0', bad);
    if (nul || bad < len) {
        size_t at = nul ? (size_t)(nul - text) : bad;
        line_and_column(text, at, &line, &column);
        return gt_io_error(err, GT_ERR_PARSE, "%s:%d:%d: %s (byte %zu)", label, line, column,
                           nul ? "a NUL byte in JSON text" : "not UTF-8 text", at);
    }
    size_t deep = json_too_deep_at(text, len);
    if (deep < len) {
        line_and_column(text, deep, &line, &column);
        return gt_io_error(err, GT_ERR_PARSE, "%s:%d:%d: nested more than %d levels deep", label, line, column,
                           GT_CONFIG_MAX_DEPTH);
    }
    /* cJSON wants a terminated string; the caller's buffer need not be one. */
    char *copy = malloc(len + 1);
    if (!copy)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory", label);
    memcpy(copy, text, len);
    copy[len] = '\0';
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(copy, &end, 1);
    if (!*out) {
        line_and_column(copy, end ? (size_t)(end - copy) : 0, &line, &column);
        free(copy);
        return gt_io_error(err, GT_ERR_PARSE, "%s:%d:%d: not valid JSON", label, line, column);
    }
    free(copy);
    /* cJSON keeps both members of a duplicated key and finds the first, where
     * Python's json finds the last: refuse rather than disagree. */
    const cJSON *duplicate = gt_json_duplicate_key(*out);
    if (duplicate) {
        gt_status status =
            gt_io_error(err, GT_ERR_PARSE, "%s: duplicate key \"%.100s\"", label, duplicate->string);
        cJSON_Delete(*out);
        *out = NULL;
        return status;
    }
    return GT_OK;
}

gt_status gt_json_load(const char *path, cJSON **out, gt_error *err)
{
    *out = NULL;
    char *text;
    size_t len;
    gt_status status = gt_read_file(path, GT_CONFIG_MAX_JSON_BYTES, &text, &len, err);
    if (status != GT_OK)
        return status;
    status = gt_json_parse(text, len, path, out, err);
    free(text);
    return status;
}

char *gt_json_print(const cJSON *tree)
{
    char *text = cJSON_Print(tree);
    if (!text)
        return NULL;
    /* cJSON indents with tabs and puts a tab after each colon; strings escape
     * their own tabs, so every raw tab is layout: two spaces at the start of a
     * line, one space elsewhere. */
    size_t n = strlen(text);
    char *pretty = malloc(2 * n + 2);
    if (pretty) {
        size_t k = 0;
        int line_start = 1;
        for (size_t i = 0; i < n; i++) {
            if (text[i] == '\t') {
                pretty[k++] = ' ';
                if (line_start)
                    pretty[k++] = ' ';
                continue;
            }
            line_start = text[i] == '\n';
            pretty[k++] = text[i];
        }
        pretty[k++] = '\n';
        pretty[k] = '\0';
    }
    free(text);
    return pretty;
}

gt_status gt_json_write_file(const char *path, const cJSON *tree, gt_error *err)
{
    char *text = gt_json_print(tree);
    if (!text)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory", path);
    gt_status status = gt_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return status;
}
