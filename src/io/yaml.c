/* YAML -> cJSON, built from libyaml's event stream so that every bound is ours:
 * nesting depth, node count and scalar length are checked as events arrive, and
 * aliases are refused outright (the "billion laughs" expansion needs them).
 * Plain scalars are typed by the YAML 1.2 core schema; quoted and block scalars
 * are strings. One document per file; mapping keys are scalars and unique. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "io/config_internal.h"
#include "io/io_internal.h"

typedef struct {
    cJSON *node;
    int mapping;
    char *key; /* the key waiting for its value (mappings only) */
    int key_line, key_column;
} frame;

typedef struct {
    gt_config *cfg;
    const char *source;
    int with_lines; /* a file; else a one-line --set value, located by character */
    gt_error *err;
    frame stack[GT_CONFIG_MAX_DEPTH];
    int depth;
    size_t nodes;
    int documents;
    cJSON *root;
} builder;

/* "file:3:5: message" for files, "--set a.b={x: : message (character 7)" for --set values. */
static gt_status located(builder *b, yaml_mark_t mark, gt_status status, const char *message, const char *context)
{
    if (b->with_lines)
        return gt_io_error(b->err, status, "%s:%zu:%zu: %s%s", b->source, mark.line + 1, mark.column + 1, message,
                           context);
    return gt_io_error(b->err, status, "%s: %s%s (character %zu)", b->source, message, context, mark.index + 1);
}

static gt_status fail_at(builder *b, yaml_mark_t mark, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static gt_status fail_at(builder *b, yaml_mark_t mark, const char *fmt, ...)
{
    char message[GT_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return located(b, mark, GT_ERR_PARSE, message, "");
}

/* --- YAML 1.2 core schema ---------------------------------------------------- */

static int equals_any(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(s, *words))
            return 1;
    return 0;
}

static int is_digit_in_base(char c, int base)
{
    if (base == 16)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    return c >= '0' && c < '0' + base;
}

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static int core_int(const char *s, double *value)
{
    int base = 10;
    const char *p = s;
    if (s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        p = s + 2;
    } else if (*p == '-' || *p == '+') {
        p++;
    }
    if (!*p)
        return 0;
    for (const char *q = p; *q; q++)
        if (!is_digit_in_base(*q, base))
            return 0;
    if (base == 10) {
        *value = strtod(s, NULL);
    } else {
        double v = 0;
        for (; *p; p++)
            v = v * base + (*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
        *value = v;
    }
    return 1;
}

static const char *skip_digits(const char *p, int *count)
{
    *count = 0;
    while (*p >= '0' && *p <= '9')
        p++, (*count)++;
    return p;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? | [-+]?\.inf | \.nan */
static int core_float(const char *s, double *value)
{
    static const char *const infinities[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    const char *p = s + (*s == '-' || *s == '+');
    if (equals_any(p, infinities)) {
        *value = *s == '-' ? -INFINITY : INFINITY;
        return 1;
    }
    if (equals_any(s, nans)) {
        *value = NAN;
        return 1;
    }
    int digits, fraction = 0;
    p = skip_digits(p, &digits);
    if (*p == '.')
        p = skip_digits(p + 1, &fraction);
    if (digits + fraction == 0)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '-' || p[1] == '+');
        int exponent;
        p = skip_digits(p, &exponent);
        if (!exponent)
            return 0;
    }
    if (*p)
        return 0;
    *value = strtod(s, NULL);
    return 1;
}

/* The typed value of a plain scalar. */
static cJSON *plain_scalar(const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    double v;
    if (equals_any(s, nulls))
        return cJSON_CreateNull();
    if (equals_any(s, trues))
        return cJSON_CreateTrue();
    if (equals_any(s, falses))
        return cJSON_CreateFalse();
    if (core_int(s, &v) || core_float(s, &v))
        return cJSON_CreateNumber(v);
    return cJSON_CreateString(s);
}

#define CORE_TAG "tag:yaml.org,2002:"

/* Whether a value typed by the core schema fits an explicit tag (!!int, ...). */
static int fits_tag(const cJSON *v, const char *tag)
{
    if (strncmp(tag, CORE_TAG, strlen(CORE_TAG)))
        return 0;
    const char *want = tag + strlen(CORE_TAG);
    return (!strcmp(want, "null") && cJSON_IsNull(v)) || (!strcmp(want, "bool") && cJSON_IsBool(v)) ||
           ((!strcmp(want, "int") || !strcmp(want, "float")) && cJSON_IsNumber(v));
}

/* A scalar's node: plain scalars typed by the core schema, quoted ones strings;
 * with an explicit tag, !!str forces a string, !!int and the other core tags must
 * match, and any other tag is refused rather than silently ignored. */
static gt_status scalar_node(builder *b, const yaml_event_t *e, cJSON **out)
{
    const char *s = (const char *)e->data.scalar.value;
    const char *tag = (const char *)e->data.scalar.tag;
    if (strlen(s) != e->data.scalar.length)
        return fail_at(b, e->start_mark, "a value contains a NUL character");
    if (tag && (!strcmp(tag, "!") || !strcmp(tag, CORE_TAG "str")))
        *out = cJSON_CreateString(s);
    else if (tag || e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        *out = plain_scalar(s);
    else
        *out = cJSON_CreateString(s);
    if (!*out)
        return gt_io_error(b->err, GT_ERR_NOMEM, "%s: out of memory", b->source);
    if (tag && strcmp(tag, "!") && strcmp(tag, CORE_TAG "str") && !fits_tag(*out, tag)) {
        cJSON_Delete(*out);
        *out = NULL;
        return fail_at(b, e->start_mark, "value does not fit its tag %.60s (or the tag is not supported)", tag);
    }
    return GT_OK;
}

/* --- building the tree ---------------------------------------------------------- */

/* Puts node under the current container (or makes it the root). */
static gt_status attach(builder *b, cJSON *node, yaml_mark_t mark)
{
    if (++b->nodes > GT_CONFIG_MAX_NODES) {
        cJSON_Delete(node);
        return fail_at(b, mark, "more than %u values in one file", GT_CONFIG_MAX_NODES);
    }
    int key_line = 0, key_column = 0;
    if (b->depth == 0) {
        b->root = node;
    } else {
        frame *f = &b->stack[b->depth - 1];
        if (f->mapping) {
            cJSON_AddItemToObject(f->node, f->key, node);
            key_line = f->key_line;
            key_column = f->key_column;
            free(f->key);
            f->key = NULL;
        } else {
            cJSON_AddItemToArray(f->node, node);
        }
    }
    int line = b->with_lines ? (int)mark.line + 1 : 0, column = b->with_lines ? (int)mark.column + 1 : 0;
    if (!gt_config_note(b->cfg, node, b->source, line, column, key_line, key_column))
        return gt_io_error(b->err, GT_ERR_NOMEM, "%s: out of memory", b->source);
    return GT_OK;
}

static int expecting_key(const builder *b)
{
    return b->depth > 0 && b->stack[b->depth - 1].mapping && !b->stack[b->depth - 1].key;
}

static gt_status on_key(builder *b, const yaml_event_t *e)
{
    frame *f = &b->stack[b->depth - 1];
    const char *key = (const char *)e->data.scalar.value;
    if (strlen(key) != e->data.scalar.length)
        return fail_at(b, e->start_mark, "a key contains a NUL character");
    f->key = strdup(key);
    if (!f->key)
        return gt_io_error(b->err, GT_ERR_NOMEM, "%s: out of memory", b->source);
    f->key_line = b->with_lines ? (int)e->start_mark.line + 1 : 0;
    f->key_column = b->with_lines ? (int)e->start_mark.column + 1 : 0;
    return GT_OK;
}

static gt_status on_collection_start(builder *b, const yaml_event_t *e, int mapping)
{
    const char *tag = (const char *)(mapping ? e->data.mapping_start.tag : e->data.sequence_start.tag);
    if (tag && strcmp(tag, mapping ? CORE_TAG "map" : CORE_TAG "seq"))
        return fail_at(b, e->start_mark, "unsupported tag %.60s", tag);
    if (expecting_key(b))
        return fail_at(b, e->start_mark, "a mapping key must be a plain value, not a list or mapping");
    if (b->depth == GT_CONFIG_MAX_DEPTH)
        return fail_at(b, e->start_mark, "nested more than %d levels deep", GT_CONFIG_MAX_DEPTH);
    cJSON *node = mapping ? cJSON_CreateObject() : cJSON_CreateArray();
    if (!node)
        return gt_io_error(b->err, GT_ERR_NOMEM, "%s: out of memory", b->source);
    gt_status status = attach(b, node, e->start_mark);
    if (status != GT_OK)
        return status;
    b->stack[b->depth++] = (frame){node, mapping, NULL, 0, 0};
    return GT_OK;
}

static gt_status on_event(builder *b, const yaml_event_t *e)
{
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return fail_at(b, e->start_mark, "a second YAML document (after ---); one file holds one document");
        return GT_OK;
    case YAML_ALIAS_EVENT:
        return fail_at(b, e->start_mark, "alias *%.100s: aliases are not supported, write the value out",
                       (const char *)e->data.alias.anchor);
    case YAML_SCALAR_EVENT: {
        if (e->data.scalar.length > GT_CONFIG_MAX_SCALAR)
            return fail_at(b, e->start_mark, "a value longer than %u bytes", GT_CONFIG_MAX_SCALAR);
        if (expecting_key(b))
            return on_key(b, e);
        cJSON *node;
        gt_status status = scalar_node(b, e, &node);
        return status != GT_OK ? status : attach(b, node, e->start_mark);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return on_collection_start(b, e, e->type == YAML_MAPPING_START_EVENT);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        b->depth--;
        return GT_OK;
    default:
        return GT_OK;
    }
}

static gt_status parser_error(builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_MEMORY_ERROR)
        return gt_io_error(b->err, GT_ERR_NOMEM, "%s: out of memory while parsing", b->source);
    char context[256] = "";
    if (p->context && b->with_lines)
        snprintf(context, sizeof context, " (%s, line %zu)", p->context, p->context_mark.line + 1);
    else if (p->context)
        snprintf(context, sizeof context, " (%s)", p->context);
    return located(b, p->problem_mark, GT_ERR_PARSE, problem, context);
}

gt_status gt_yaml_parse(gt_config *cfg, const char *text, size_t len, const char *source, int with_lines,
                        cJSON **root, gt_error *err)
{
    *root = NULL;
    if (len > GT_CONFIG_MAX_YAML_BYTES)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: %zu bytes is over the %u-byte limit for YAML files", source,
                           len, GT_CONFIG_MAX_YAML_BYTES);
    builder b = {.cfg = cfg, .source = source, .with_lines = with_lines, .err = err};
    gt_error local = {0};
    if (!b.err)
        b.err = &local;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory", source);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    gt_status status = GT_OK;
    for (int done = 0; !done && status == GT_OK;) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            status = parser_error(&b, &parser);
            break;
        }
        status = on_event(&b, &event);
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    for (int i = 0; i < b.depth; i++)
        free(b.stack[i].key);
    /* Duplicate keys are found once the tree is built: checking each key as it
     * arrives would be quadratic in the size of a mapping. */
    const cJSON *duplicate = status == GT_OK ? gt_json_duplicate_key(b.root) : NULL;
    if (duplicate && with_lines) {
        const gt_config_position *p = gt_config_position_of(cfg, duplicate);
        yaml_mark_t mark = {0};
        mark.line = p ? (size_t)p->key_line - 1 : 0;
        mark.column = p ? (size_t)p->key_column - 1 : 0;
        status = fail_at(&b, mark, "duplicate key \"%.100s\"", duplicate->string);
    } else if (duplicate) {
        status = gt_io_error(b.err, GT_ERR_PARSE, "%s: duplicate key \"%.100s\"", source, duplicate->string);
    }
    if (status != GT_OK) {
        cJSON_Delete(b.root);
        return status;
    }
    *root = b.root;
    return GT_OK;
}
