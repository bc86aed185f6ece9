#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(rbuf *b, size_t more)
{
    if (b->failed)
        return 0;
    if (b->len + more + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

static void put(rbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rbuf_puts(rbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

void rbuf_printf(rbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void rbuf_html(rbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': rbuf_puts(b, "&amp;"); break;
        case '<': rbuf_puts(b, "&lt;"); break;
        case '>': rbuf_puts(b, "&gt;"); break;
        case '"': rbuf_puts(b, "&quot;"); break;
        case '\'': rbuf_puts(b, "&#39;"); break;
        default: put(b, s, 1);
        }
    }
}

void rbuf_md(rbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|' || *s == '\\')
            put(b, "\\", 1);
        put(b, *s == '\n' || *s == '\r' ? " " : s, 1);
    }
}

void rbuf_csv(rbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        rbuf_puts(b, s);
        return;
    }
    put(b, "\"", 1);
    for (; *s; s++) {
        put(b, s, 1);
        if (*s == '"')
            put(b, "\"", 1);   /* a quote inside is doubled */
    }
    put(b, "\"", 1);
}

void rbuf_free(rbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
