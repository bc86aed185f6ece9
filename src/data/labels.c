/* Labels: integers 0..n_classes-1, booleans (binary sets), or names mapped to
 * classes. Anything else is one error naming the place and the value. */
#include "data/reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static gt_status label_error(const gt_dataset_builder *b, const char *s, size_t len, const char *where,
                             gt_error *err)
{
    char value[96];
    gt_quote_for_message(s, len, value, sizeof value);
    if (b->opt.n_label_names) {
        char names[256] = "";
        size_t used = 0;
        for (size_t i = 0; i < b->opt.n_label_names && used + 40 < sizeof names; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                     b->opt.label_names[i].name);
        return gt_error_set(err, GT_ERR_INVALID, "%s: label \"%s\" is not in the label mapping (%s) — add it to "
                            "the mapping or fix the record", where, value, names);
    }
    int n = b->ds->n_classes;
    return gt_error_set(err, GT_ERR_INVALID, "%s: label \"%s\" is not %s — map string labels to classes with a "
                        "label mapping (e.g. labels: {ham: 0, spam: 1})",
                        where, value, n == 2 ? "0, 1, true or false" : "an integer class 0..n_classes-1");
}

gt_status gt_label_parse(const gt_dataset_builder *b, const char *s, size_t len, const char *where, int *label,
                         gt_error *err)
{
    if (b->opt.n_label_names) {
        for (size_t i = 0; i < b->opt.n_label_names; i++) {
            const char *name = b->opt.label_names[i].name;
            if (strlen(name) == len && memcmp(name, s, len) == 0) {
                *label = b->opt.label_names[i].label;
                return GT_OK;
            }
        }
        return label_error(b, s, len, where, err);
    }
    /* Surrounding blanks are common in hand-edited CSV ("0, 1"); nothing else is forgiven. */
    size_t start = 0, end = len;
    while (start < end && (s[start] == ' ' || s[start] == '\t'))
        start++;
    while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
        end--;
    const char *t = s + start;
    size_t n = end - start;
    int classes = b->ds->n_classes;
    if (n > 0 && n <= 4) {
        int value = 0, digits = 1;
        for (size_t i = 0; i < n; i++) {
            if (t[i] < '0' || t[i] > '9') {
                digits = 0;
                break;
            }
            value = value * 10 + (t[i] - '0');
        }
        if (digits && value < classes && (n == 1 || t[0] != '0')) {
            *label = value;
            return GT_OK;
        }
    }
    if (classes == 2 && n == 4 && strncasecmp(t, "true", 4) == 0) {
        *label = 1;
        return GT_OK;
    }
    if (classes == 2 && n == 5 && strncasecmp(t, "false", 5) == 0) {
        *label = 0;
        return GT_OK;
    }
    return label_error(b, s, len, where, err);
}

gt_status gt_label_parse_json(const gt_dataset_builder *b, const cJSON *value, const char *where, int *label,
                              gt_error *err)
{
    char text[64];
    if (!value)
        return gt_error_set(err, GT_ERR_PARSE, "%s: no \"%s\" field — set label_field to the key holding the label",
                            where, b->opt.label_field);
    if (cJSON_IsString(value) && value->valuestring)
        return gt_label_parse(b, value->valuestring, strlen(value->valuestring), where, label, err);
    if (cJSON_IsBool(value)) {
        const char *t = cJSON_IsTrue(value) ? "true" : "false";
        return gt_label_parse(b, t, strlen(t), where, label, err);
    }
    if (cJSON_IsNumber(value)) {
        double d = value->valuedouble;
        /* Range first: converting 1e308 to long long is undefined (found by fuzz_jsonl). */
        if (d >= -1e9 && d <= 1e9 && d == (double)(long long)d)
            snprintf(text, sizeof text, "%lld", (long long)d);
        else
            snprintf(text, sizeof text, "%.17g", d);
        return gt_label_parse(b, text, strlen(text), where, label, err);
    }
    const char *kind = cJSON_IsNull(value) ? "null" : cJSON_IsArray(value) ? "an array" : "an object";
    return gt_error_set(err, GT_ERR_INVALID, "%s: label field \"%s\" is %s — expected 0/1, a boolean or a mapped "
                        "name", where, b->opt.label_field, kind);
}
