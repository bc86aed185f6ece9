/* Text helpers for the file readers: UTF-8 validation, one-line error messages,
 * JSON string literals. */
#include "io/io_internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t gt_utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t extra;
        uint32_t code, min;
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1, code = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2, code = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3, code = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (n - i <= extra)
            return i;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            code = code << 6 | (s[i + k] & 0x3F);
        }
        if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
            return i;
        i += extra + 1;
    }
    return n;
}

gt_status gt_io_error(gt_error *err, gt_status status, const char *fmt, ...)
{
    if (!err)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    for (char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = '?';
    err->status = status;
    return status;
}

void gt_json_write_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void gt_copy_display_text(char *dst, size_t cap, const char *src)
{
    if (!cap)
        return;
    size_t n = 0;
    for (; src[n] && n + 1 < cap; n++)
        dst[n] = (unsigned char)src[n] < 0x20 || src[n] == 0x7F ? '?' : src[n];
    /* Cut back to the start of a UTF-8 sequence if the copy ended inside one. */
    if (src[n]) {
        size_t start = n;
        while (start > 0 && ((unsigned char)dst[start - 1] & 0xC0) == 0x80)
            start--;
        unsigned char lead = start > 0 ? (unsigned char)dst[start - 1] : 0;
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (lead >= 0xC0 && n - (start - 1) < need)
            n = start - 1;
    }
    dst[n] = '\0';
}

typedef struct {
    const cJSON *member;
    size_t index; /* position in the object, to name the later of two equal keys */
} keyed_member;

static int compare_keys(const void *a, const void *b)
{
    const keyed_member *x = a, *y = b;
    int c = strcmp(x->member->string, y->member->string);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static const cJSON *duplicate_in_object(const cJSON *object)
{
    size_t n = 0;
    for (const cJSON *c = object->child; c; c = c->next)
        n++;
    if (n < 2)
        return NULL;
    keyed_member *members = malloc(n * sizeof *members);
    if (!members)
        return NULL;
    size_t i = 0;
    for (const cJSON *c = object->child; c; c = c->next, i++)
        members[i] = (keyed_member){c, i};
    qsort(members, n, sizeof *members, compare_keys);
    const cJSON *found = NULL;
    for (i = 1; i < n && !found; i++)
        if (!strcmp(members[i].member->string, members[i - 1].member->string))
            found = members[i].member;
    free(members);
    return found;
}

const cJSON *gt_json_duplicate_key(const cJSON *tree)
{
    if (!tree)
        return NULL;
    if (cJSON_IsObject(tree)) {
        const cJSON *d = duplicate_in_object(tree);
        if (d)
            return d;
    }
    for (const cJSON *c = tree->child; c; c = c->next) {
        const cJSON *d = gt_json_duplicate_key(c);
        if (d)
            return d;
    }
    return NULL;
}
