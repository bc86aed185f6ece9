/* Knob parameter values: typing of plain scalars as YAML does, conversion of a
 * user value to a parameter's canonical form with type/range/choice checks,
 * conflict conditions, and the evidence helpers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knob_internal.h"

#define STRING_PARAM_MAX 1024

/* A decimal number as YAML writes it: [-+]digits[.digits][e[-+]digits] or .5;
 * strtod alone would also take "inf", "nan" and hex, which are not numbers here. */
static int number_text(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return 0;
    size_t i = 0, digits = 0;
    if (s[i] == '-' || s[i] == '+')
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (!digits)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t exp_digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, exp_digits++;
        if (!exp_digits)
            return 0;
    }
    if (i != len)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return isfinite(*out);
}

static int text_is(const char *s, size_t len, const char *a, const char *b, const char *c)
{
    return (strlen(a) == len && !strncmp(s, a, len)) || (strlen(b) == len && !strncmp(s, b, len)) ||
           (strlen(c) == len && !strncmp(s, c, len));
}

cJSON *knob_plain_scalar(const char *text, size_t len)
{
    while (len && (*text == ' ' || *text == '\t'))
        text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    double number;
    if (len == 0 || text_is(text, len, "~", "null", "Null"))
        return cJSON_CreateNull();
    if (text_is(text, len, "true", "True", "TRUE"))
        return cJSON_CreateTrue();
    if (text_is(text, len, "false", "False", "FALSE"))
        return cJSON_CreateFalse();
    if (number_text(text, len, &number))
        return cJSON_CreateNumber(number);
    char *copy = strndup(text, len);
    cJSON *s = copy ? cJSON_CreateString(copy) : NULL;
    free(copy);
    return s;
}

double knob_parse_duration(const char *text)
{
    size_t len = strlen(text);
    double scale = 1, value;
    if (len > 1) {
        switch (text[len - 1]) {
        case 's': scale = 1; len--; break;
        case 'm': scale = 60; len--; break;
        case 'h': scale = 3600; len--; break;
        case 'd': scale = 86400; len--; break;
        }
    }
    if (!number_text(text, len, &value) || value < 0)
        return -1;
    return value * scale;
}

const char *knob_escape(const char *text, char *buf, size_t size)
{
    size_t used = 0;
    for (; *text && used + 5 < size; text++) {
        unsigned char c = (unsigned char)*text;
        if (c == '\n' || c == '\t')
            used += (size_t)snprintf(buf + used, size - used, "\\%c", c == '\n' ? 'n' : 't');
        else if (c < 0x20 || c == 0x7f)
            used += (size_t)snprintf(buf + used, size - used, "\\x%02x", c);
        else
            buf[used++] = (char)c;
    }
    buf[used] = '\0';
    return buf;
}

const char *knob_value_text(const cJSON *value, char *buf, size_t size)
{
    if (!value || cJSON_IsNull(value)) {
        snprintf(buf, size, "null");
    } else if (cJSON_IsString(value)) {
        knob_escape(value->valuestring, buf, size);
    } else if (cJSON_IsBool(value)) {
        snprintf(buf, size, "%s", cJSON_IsTrue(value) ? "true" : "false");
    } else if (cJSON_IsNumber(value)) {
        snprintf(buf, size, "%.15g", value->valuedouble);
    } else {
        char *json = cJSON_PrintUnformatted(value);
        snprintf(buf, size, "%s", json ? json : "?");
        cJSON_free(json);
    }
    return buf;
}

/* "a, b, c" from a NULL-terminated list. */
static const char *join_choices(const char *const *choices, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (; choices && *choices; choices++) {
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", *choices);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

static int choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; choices && choices[i]; i++)
        if (!strcmp(choices[i], s))
            return i;
    return -1;
}

static size_t choice_count(const char *const *choices)
{
    size_t n = 0;
    while (choices && choices[n])
        n++;
    return n;
}

static gt_status bad_choice(const gt_knob_def *def, const gt_knob_param *p, const char *s, gt_error *err)
{
    char list[256];
    const char *near = knob_suggest_among(s, p->choices, choice_count(p->choices));
    if (near)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s \"%s\" is not one of %s (did you mean \"%s\"?)",
                            def->name, p->name, s, join_choices(p->choices, list, sizeof list), near);
    return gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s \"%s\" is not one of %s", def->name, p->name, s,
                        join_choices(p->choices, list, sizeof list));
}

/* A number from a JSON number or a numeric string (YAML loaders differ in which
 * they produce for `128`). */
static int numeric_value(const cJSON *value, double *out)
{
    if (cJSON_IsNumber(value)) {
        *out = value->valuedouble;
        return isfinite(*out);
    }
    return cJSON_IsString(value) && number_text(value->valuestring, strlen(value->valuestring), out);
}

static cJSON *number_param(const gt_knob_def *def, const gt_knob_param *p, const cJSON *value, gt_error *err)
{
    double v;
    char text[128];
    const char *kind = p->type == GT_PARAM_INT ? "an integer" : "a number";
    if (p->type == GT_PARAM_DURATION) {
        v = cJSON_IsString(value) ? knob_parse_duration(value->valuestring) : -1;
        if (cJSON_IsNumber(value))
            v = value->valuedouble;
        if (!(v >= 0) || !isfinite(v)) {
            gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s must be a duration like 90, 90s, 15m, 6h or 1d, got %s",
                         def->name, p->name, knob_value_text(value, text, sizeof text));
            return NULL;
        }
    } else if (!numeric_value(value, &v) || (p->type == GT_PARAM_INT && (v != floor(v) || fabs(v) > 9e15))) {
        gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s must be %s, got %s%s%s", def->name, p->name, kind,
                     cJSON_IsString(value) ? "\"" : "", knob_value_text(value, text, sizeof text),
                     cJSON_IsString(value) ? "\"" : "");
        return NULL;
    }
    if (v < p->min || v > p->max) {
        gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s %.15g is out of range [%.15g, %.15g]", def->name, p->name,
                     v, p->min, p->max);
        return NULL;
    }
    return cJSON_CreateNumber(v);
}

/* LIST: an array of choices or one comma-separated string; no repeats. */
static cJSON *list_param(const gt_knob_def *def, const gt_knob_param *p, const cJSON *value, gt_error *err)
{
    cJSON *out = cJSON_CreateArray();
    char item[128], text[256];
    if (cJSON_IsString(value)) {
        const char *s = value->valuestring;
        while (*s) {
            size_t n = strcspn(s, ",");
            size_t start = 0, end = n;
            while (start < end && s[start] == ' ')
                start++;
            while (end > start && s[end - 1] == ' ')
                end--;
            if (end - start >= sizeof item)
                end = start + sizeof item - 1;
            memcpy(item, s + start, end - start);
            item[end - start] = '\0';
            cJSON_AddItemToArray(out, cJSON_CreateString(item));
            s += n + (s[n] == ',');
        }
    } else if (cJSON_IsArray(value)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, value) {
            if (!cJSON_IsString(e)) {
                gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s must list names, got %s", def->name, p->name,
                             knob_value_text(e, text, sizeof text));
                cJSON_Delete(out);
                return NULL;
            }
            cJSON_AddItemToArray(out, cJSON_CreateString(e->valuestring));
        }
    } else {
        gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s must be a list like [%s], got %s", def->name, p->name,
                     join_choices(p->choices, item, sizeof item), knob_value_text(value, text, sizeof text));
        cJSON_Delete(out);
        return NULL;
    }
    if (cJSON_GetArraySize(out) == 0) {
        gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s is empty; name at least one of %s", def->name, p->name,
                     join_choices(p->choices, item, sizeof item));
        cJSON_Delete(out);
        return NULL;
    }
    const cJSON *e;
    unsigned long long seen = 0;
    cJSON_ArrayForEach(e, out) {
        int index = choice_index(p->choices, e->valuestring);
        if (index < 0) {
            bad_choice(def, p, e->valuestring, err);
            cJSON_Delete(out);
            return NULL;
        }
        if (index < 64 && (seen & (1ull << index))) {
            gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s names \"%s\" twice", def->name, p->name, e->valuestring);
            cJSON_Delete(out);
            return NULL;
        }
        seen |= index < 64 ? 1ull << index : 0;
    }
    return out;
}

cJSON *knob_param_value(const gt_knob_def *def, const gt_knob_param *p, const cJSON *value, gt_error *err)
{
    char text[256];
    if (!value || cJSON_IsNull(value)) {
        gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s has no value", def->name, p->name);
        return NULL;
    }
    switch (p->type) {
    case GT_PARAM_INT:
    case GT_PARAM_FLOAT:
    case GT_PARAM_DURATION:
        return number_param(def, p, value, err);
    case GT_PARAM_BOOL:
        if (cJSON_IsBool(value))
            return cJSON_CreateBool(cJSON_IsTrue(value));
        if (cJSON_IsString(value) && (!strcmp(value->valuestring, "true") || !strcmp(value->valuestring, "false")))
            return cJSON_CreateBool(!strcmp(value->valuestring, "true"));
        gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s must be true or false, got %s", def->name, p->name,
                     knob_value_text(value, text, sizeof text));
        return NULL;
    case GT_PARAM_STRING:
        if (cJSON_IsNumber(value))
            return cJSON_CreateString(knob_value_text(value, text, sizeof text));
        if (!cJSON_IsString(value) || !value->valuestring[0] || strlen(value->valuestring) > STRING_PARAM_MAX) {
            gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s must be a non-empty string of at most %d characters",
                         def->name, p->name, STRING_PARAM_MAX);
            return NULL;
        }
        return cJSON_CreateString(value->valuestring);
    case GT_PARAM_ENUM:
        if (!cJSON_IsString(value)) {
            char list[256];
            gt_error_set(err, GT_ERR_INVALID, "knob \"%s\": %s must be one of %s, got %s", def->name, p->name,
                         join_choices(p->choices, list, sizeof list), knob_value_text(value, text, sizeof text));
            return NULL;
        }
        if (choice_index(p->choices, value->valuestring) < 0) {
            bad_choice(def, p, value->valuestring, err);
            return NULL;
        }
        return cJSON_CreateString(value->valuestring);
    case GT_PARAM_LIST:
        return list_param(def, p, value, err);
    }
    gt_error_set(err, GT_ERR_INTERNAL, "knob \"%s\": %s has an unknown type", def->name, p->name);
    return NULL;
}

int knob_condition_holds(const cJSON *params, const char *condition)
{
    if (!condition)
        return 1;
    const char *op = strchr(condition, '=');
    if (!op || op == condition)
        return 0;
    int negate = op[-1] == '!';
    char name[64], text[256];
    size_t name_len = (size_t)(op - condition) - (size_t)negate;
    if (name_len >= sizeof name)
        return 0;
    memcpy(name, condition, name_len);
    name[name_len] = '\0';
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(params, name);
    const char *actual = value ? knob_value_text(value, text, sizeof text) : "";
    int match = 0;
    for (const char *alt = op + 1; *alt;) {
        size_t n = strcspn(alt, "|");
        if (strlen(actual) == n && !strncmp(actual, alt, n))
            match = 1;
        alt += n + (alt[n] == '|');
    }
    return negate ? !match : match;
}

void knob_evidence_item(gt_knob_use *use, const char *key, cJSON *item)
{
    if (!use->evidence)
        use->evidence = cJSON_CreateObject();
    if (cJSON_GetObjectItemCaseSensitive(use->evidence, key))
        cJSON_ReplaceItemInObjectCaseSensitive(use->evidence, key, item);
    else
        cJSON_AddItemToObject(use->evidence, key, item);
}

double knob_evidence_get(const gt_knob_use *use, const char *key, double fallback)
{
    const cJSON *item = use->evidence ? cJSON_GetObjectItemCaseSensitive(use->evidence, key) : NULL;
    return cJSON_IsNumber(item) ? item->valuedouble : fallback;
}

void knob_evidence_number(gt_knob_use *use, const char *key, double value)
{
    knob_evidence_item(use, key, cJSON_CreateNumber(value));
}

void knob_evidence_string(gt_knob_use *use, const char *key, const char *value)
{
    knob_evidence_item(use, key, cJSON_CreateString(value));
}

void knob_evidence_bool(gt_knob_use *use, const char *key, int value)
{
    knob_evidence_item(use, key, cJSON_CreateBool(value));
}
