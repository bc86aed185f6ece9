/* A small, bounded parser for the YAML flow syntax of `--knob` values:
 *     prune_layers={n: 2, from: bottom}    lora={targets: [q, v], rank: 4}
 * Mappings, sequences, single- and double-quoted strings and plain scalars
 * (typed as YAML does: true/false, null, numbers, else strings). The whole
 * pipeline file is read by the YAML loader in src/io; this only covers what a
 * command line can hold, so input length and nesting are capped. */
#include <stdlib.h>
#include <string.h>

#include "knob_internal.h"

#define FLOW_TEXT_MAX 4096
#define FLOW_DEPTH_MAX 8

typedef struct {
    const char *s;
    size_t pos, len;
    int depth;
    const char *what;
    gt_error *err;
} flow;

static cJSON *flow_fail(flow *f, const char *problem)
{
    gt_error_set(f->err, GT_ERR_PARSE, "%s: %s at column %zu of \"%s\"", f->what, problem, f->pos + 1, f->s);
    return NULL;
}

static void skip_space(flow *f)
{
    while (f->pos < f->len && (f->s[f->pos] == ' ' || f->s[f->pos] == '\t'))
        f->pos++;
}

static cJSON *parse_value(flow *f, const char *stops);

/* '...' ('' is a quote) or "..." (backslash escapes \" \\ \n \t). */
static cJSON *parse_quoted(flow *f)
{
    char quote = f->s[f->pos++];
    char *out = malloc(f->len + 1);
    size_t n = 0;
    if (!out)
        return flow_fail(f, "out of memory");
    for (;;) {
        if (f->pos >= f->len) {
            free(out);
            return flow_fail(f, quote == '"' ? "missing closing '\"'" : "missing closing \"'\"");
        }
        char c = f->s[f->pos++];
        if (c == quote) {
            if (quote == '\'' && f->pos < f->len && f->s[f->pos] == '\'') {
                out[n++] = '\'';
                f->pos++;
                continue;
            }
            break;
        }
        if (quote == '"' && c == '\\' && f->pos < f->len) {
            c = f->s[f->pos++];
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    cJSON *s = cJSON_CreateString(out);
    free(out);
    return s;
}

/* A plain scalar runs to the next stop character (or the end of the text). */
static cJSON *parse_plain(flow *f, const char *stops)
{
    size_t start = f->pos;
    while (f->pos < f->len && !strchr(stops, f->s[f->pos]))
        f->pos++;
    return knob_plain_scalar(f->s + start, f->pos - start);
}

/* '{' or '[' already seen: entries separated by ',' up to the closing bracket. */
static cJSON *parse_collection(flow *f)
{
    int mapping = f->s[f->pos] == '{';
    char close = mapping ? '}' : ']';
    if (++f->depth > FLOW_DEPTH_MAX)
        return flow_fail(f, "nested too deeply");
    f->pos++;
    cJSON *out = mapping ? cJSON_CreateObject() : cJSON_CreateArray();
    for (;;) {
        skip_space(f);
        if (f->pos < f->len && f->s[f->pos] == close)
            break;
        cJSON *key = NULL;
        if (mapping) {
            key = parse_value(f, ",:{}[]");
            if (!key)
                goto fail;
            if (!cJSON_IsString(key) && !cJSON_IsNumber(key)) {
                cJSON_Delete(key);
                flow_fail(f, "a key must be a name");
                goto fail;
            }
            skip_space(f);
            if (f->pos >= f->len || f->s[f->pos] != ':') {
                cJSON_Delete(key);
                flow_fail(f, "expected ':' after a key");
                goto fail;
            }
            f->pos++;
        }
        cJSON *value = parse_value(f, ",{}[]");
        if (!value) {
            cJSON_Delete(key);
            goto fail;
        }
        if (mapping) {
            char name[128];
            knob_value_text(key, name, sizeof name);
            cJSON_Delete(key);
            if (cJSON_GetObjectItemCaseSensitive(out, name)) {
                cJSON_Delete(value);
                flow_fail(f, "a key is given twice");
                goto fail;
            }
            cJSON_AddItemToObject(out, name, value);
        } else {
            cJSON_AddItemToArray(out, value);
        }
        skip_space(f);
        if (f->pos < f->len && f->s[f->pos] == ',') {
            f->pos++;
            continue;
        }
        if (f->pos < f->len && f->s[f->pos] == close)
            break;
        flow_fail(f, mapping ? "expected ',' or '}'" : "expected ',' or ']'");
        goto fail;
    }
    f->pos++;
    f->depth--;
    return out;
fail:
    cJSON_Delete(out);
    return NULL;
}

static cJSON *parse_value(flow *f, const char *stops)
{
    skip_space(f);
    if (f->pos < f->len && (f->s[f->pos] == '{' || f->s[f->pos] == '['))
        return parse_collection(f);
    if (f->pos < f->len && (f->s[f->pos] == '"' || f->s[f->pos] == '\''))
        return parse_quoted(f);
    if (f->pos < f->len && (f->s[f->pos] == '}' || f->s[f->pos] == ']'))
        return flow_fail(f, "unexpected closing bracket");
    return parse_plain(f, stops);
}

cJSON *knob_flow_parse(const char *text, const char *what, gt_error *err)
{
    flow f = {text, 0, strlen(text), 0, what, err};
    if (f.len > FLOW_TEXT_MAX) {
        gt_error_set(err, GT_ERR_INVALID, "%s: value is longer than %d characters", what, FLOW_TEXT_MAX);
        return NULL;
    }
    /* At the top level a plain scalar takes the whole text: pin_cores=0-3,6. */
    cJSON *value = parse_value(&f, "");
    if (!value)
        return NULL;
    skip_space(&f);
    if (f.pos < f.len) {
        cJSON_Delete(value);
        return flow_fail(&f, "unexpected text after the value");
    }
    return value;
}
