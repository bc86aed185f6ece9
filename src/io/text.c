/* Text helpers for the file readers: UTF-8 validation, one-line error messages,
 * JSON string literals. */
#include "io/io_internal.h"

#include <stdarg.h>
#include <stdint.h>

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
