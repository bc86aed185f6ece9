/* A growing text buffer for the report writers. Appends never fail loudly: an
 * allocation failure sets `failed` once and later appends do nothing, so a
 * writer checks once at the end. */
#ifndef GREENTUNE_REPORT_BUF_H
#define GREENTUNE_REPORT_BUF_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} rbuf;

void rbuf_puts(rbuf *b, const char *s);
void rbuf_printf(rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text for HTML and SVG: & < > " ' escaped. */
void rbuf_html(rbuf *b, const char *s);
/* Text in a Markdown table cell: | and \ escaped, newlines folded. */
void rbuf_md(rbuf *b, const char *s);
/* One CSV field (RFC 4180: quoted when it holds , " or a line break). */
void rbuf_csv(rbuf *b, const char *s);
void rbuf_free(rbuf *b);

#endif
