/* CSV (RFC 4180): a header row names the columns; fields may be quoted, a
 * quote inside a quoted field is doubled, quoted fields may span lines, and
 * records end with CRLF, LF or CR. The reader streams the file, so its size is
 * bounded by max_file_bytes and each record by max_record_bytes, not by memory.
 * A quote that does not follow these rules is an error with its line number. */
#include "data/reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE *f;
    unsigned char buf[1 << 16];
    size_t pos, len, total;
    int pushed;  /* one byte of look-ahead, -1 when none */
} byte_reader;

static int reader_get(byte_reader *r)
{
    if (r->pushed >= 0) {
        int c = r->pushed;
        r->pushed = -1;
        return c;
    }
    if (r->pos == r->len) {
        r->len = fread(r->buf, 1, sizeof r->buf, r->f);
        r->pos = 0;
        if (r->len == 0)
            return EOF;
    }
    r->total++;
    return r->buf[r->pos++];
}

/* A UTF-8 byte order mark is not part of the first column's name. */
static void skip_byte_order_mark(byte_reader *r)
{
    r->len = fread(r->buf, 1, sizeof r->buf, r->f);
    r->pos = 0;
    if (r->len >= 3 && r->buf[0] == 0xEF && r->buf[1] == 0xBB && r->buf[2] == 0xBF) {
        r->pos = 3;
        r->total = 3;
    }
}

typedef struct {
    gt_dataset_builder *b;
    const char *path;
    gt_bytes record;          /* the fields of the current record, back to back */
    size_t *starts;           /* field i is record.v[starts[i] .. starts[i+1]) */
    size_t n_fields, cap_fields;
    int last_field_quoted;
    size_t header_fields;     /* 0 until the header has been read */
    long text_col, label_col, id_col;
    char **header;
} csv_state;

static gt_status end_field(csv_state *s, size_t line, gt_error *err)
{
    if (s->n_fields + 2 > s->cap_fields) {
        size_t cap = s->cap_fields ? s->cap_fields * 2 : 16;
        if (cap > 100000)
            return gt_error_set(err, GT_ERR_NOMEM, "%s: line %zu: more than 100000 fields in one record", s->path,
                                line);
        size_t *starts = realloc(s->starts, cap * sizeof *starts);
        if (!starts)
            return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", s->path);
        s->starts = starts;
        s->cap_fields = cap;
        if (s->n_fields == 0)
            s->starts[0] = 0;
    }
    size_t start = s->starts[s->n_fields];
    if (s->record.n - start > s->b->opt.max_field_bytes)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: line %zu: a field of %zu bytes exceeds the %zu-byte field limit",
                            s->path, line, s->record.n - start, s->b->opt.max_field_bytes);
    s->n_fields++;
    s->starts[s->n_fields] = s->record.n;
    return GT_OK;
}

static const char *field(const csv_state *s, size_t i, size_t *len)
{
    *len = s->starts[i + 1] - s->starts[i];
    return s->record.v ? s->record.v + s->starts[i] : "";
}

static long find_column(const csv_state *s, const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < s->header_fields; i++)
        if (!strcmp(s->header[i], name))
            return (long)i;
    return -1;
}

static gt_status missing_column(const csv_state *s, const char *what, const char *name, gt_error *err)
{
    char columns[200] = "";
    size_t used = 0;
    for (size_t i = 0; i < s->header_fields && used + 40 < sizeof columns; i++)
        used += (size_t)snprintf(columns + used, sizeof columns - used, "%s\"%s\"", i ? ", " : "", s->header[i]);
    return gt_error_set(err, GT_ERR_NOT_FOUND, "%s: line 1: no column \"%s\" in the header (columns: %s) — set %s",
                        s->path, name, columns, what);
}

static gt_status read_header(csv_state *s, gt_error *err)
{
    s->header = calloc(s->n_fields, sizeof *s->header);
    if (!s->header)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", s->path);
    s->header_fields = s->n_fields;
    for (size_t i = 0; i < s->n_fields; i++) {
        size_t len;
        const char *f = field(s, i, &len);
        if (!(s->header[i] = strndup(f, len)))
            return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", s->path);
    }
    const gt_data_options *opt = &s->b->opt;
    if ((s->text_col = find_column(s, opt->text_field)) < 0)
        return missing_column(s, "text_field", opt->text_field, err);
    if ((s->label_col = find_column(s, opt->label_field)) < 0)
        return missing_column(s, "label_field", opt->label_field, err);
    s->id_col = find_column(s, opt->id_field);
    if (opt->id_field && s->id_col < 0)
        return missing_column(s, "id_field", opt->id_field, err);
    return GT_OK;
}

static gt_status end_record(csv_state *s, size_t record_line, gt_error *err)
{
    gt_status status = GT_OK;
    /* A line with nothing on it is not a record (RFC 4180 does not allow them,
     * but files often end with one or two). */
    int blank = s->n_fields == 1 && s->starts[1] == 0 && !s->last_field_quoted;
    if (blank)
        goto done;
    if (!s->header_fields) {
        status = read_header(s, err);
        goto done;
    }
    if (s->n_fields != s->header_fields) {
        status = gt_error_set(err, GT_ERR_PARSE, "%s: line %zu: the record has %zu fields, the header %zu — a quote "
                              "or a separator is missing or extra", s->path, record_line, s->n_fields,
                              s->header_fields);
        goto done;
    }
    char where[512];
    snprintf(where, sizeof where, "%s: line %zu", s->path, record_line);
    size_t len, text_len, id_len = 0;
    const char *label_text = field(s, (size_t)s->label_col, &len);
    int label;
    status = gt_label_parse(s->b, label_text, len, where, &label, err);
    if (status != GT_OK)
        goto done;
    const char *text = field(s, (size_t)s->text_col, &text_len);
    const char *id = s->id_col >= 0 ? field(s, (size_t)s->id_col, &id_len) : NULL;
    status = gt_builder_add(s->b, text, text_len, label, id, id_len, where, err);
done:
    s->record.n = 0;
    s->n_fields = 0;
    if (s->starts)
        s->starts[0] = 0;
    s->last_field_quoted = 0;
    return status;
}

/* The last field of a record, then the record. */
static gt_status end_line(csv_state *s, size_t record_line, gt_error *err)
{
    gt_status status = end_field(s, record_line, err);
    return status == GT_OK ? end_record(s, record_line, err) : status;
}

enum { AT_FIELD_START, IN_UNQUOTED, IN_QUOTED, AFTER_QUOTE };

static gt_status parse(csv_state *s, byte_reader *r, gt_error *err)
{
    const gt_data_options *opt = &s->b->opt;
    int state = AT_FIELD_START;
    size_t line = 1, record_line = 1, quote_line = 0;
    gt_status status = GT_OK;
    skip_byte_order_mark(r);
    for (int c = reader_get(r); c != EOF; c = reader_get(r)) {
        if (r->total > opt->max_file_bytes)
            return gt_error_set(err, GT_ERR_NOMEM, "%s: larger than the %zu-byte file limit — raise it or split the "
                                "file", s->path, opt->max_file_bytes);
        if (s->record.n > opt->max_record_bytes)
            return gt_error_set(err, GT_ERR_NOMEM, "%s: line %zu: the record starting at line %zu exceeds the "
                                "%zu-byte record limit (a quote that never closes?)", s->path, line, record_line,
                                opt->max_record_bytes);
        if (state == IN_QUOTED) {
            if (c == '"') {
                state = AFTER_QUOTE;
                continue;
            }
            if (c == '\n' || (c == '\r' && (r->pushed = reader_get(r)) != '\n'))
                line++;
            if (gt_bytes_append(&s->record, &(char){(char)c}, 1) != 0)
                return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", s->path);
            continue;
        }
        if (state == AFTER_QUOTE && c == '"') {  /* a doubled quote stands for one */
            state = IN_QUOTED;
            if (gt_bytes_append(&s->record, "\"", 1) != 0)
                return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", s->path);
            continue;
        }
        if (c == ',') {
            if ((status = end_field(s, record_line, err)) != GT_OK)
                return status;
            s->last_field_quoted = 0;
            state = AT_FIELD_START;
            continue;
        }
        if (c == '\n' || c == '\r') {
            if (c == '\r') {
                int next = reader_get(r);
                if (next != '\n')
                    r->pushed = next;
            }
            if ((status = end_line(s, record_line, err)) != GT_OK)
                return status;
            line++;
            record_line = line;
            state = AT_FIELD_START;
            continue;
        }
        if (state == AFTER_QUOTE) {
            char shown[16];
            gt_quote_for_message((const char *)&(char){(char)c}, 1, shown, sizeof shown);
            return gt_error_set(err, GT_ERR_PARSE, "%s: line %zu: '%s' after the closing quote of a field opened at "
                                "line %zu — a quote inside a quoted field must be doubled (\"\")", s->path, line,
                                shown, quote_line);
        }
        if (c == '"') {
            if (state == IN_UNQUOTED)
                return gt_error_set(err, GT_ERR_PARSE, "%s: line %zu: a quote inside an unquoted field — quote the "
                                    "whole field and double the quote (\"5\"\" screen\")", s->path, line);
            state = IN_QUOTED;
            s->last_field_quoted = 1;
            quote_line = line;
            continue;
        }
        state = IN_UNQUOTED;
        if (gt_bytes_append(&s->record, &(char){(char)c}, 1) != 0)
            return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", s->path);
    }
    if (ferror(r->f))
        return gt_error_set(err, GT_ERR_IO, "%s: read error: %s", s->path, strerror(errno));
    if (state == IN_QUOTED)
        return gt_error_set(err, GT_ERR_PARSE, "%s: line %zu: the quoted field opened here is never closed (end of "
                            "file) — close the quote, or double the quotes inside it", s->path, quote_line);
    if (state != AT_FIELD_START || s->n_fields > 0) {  /* the last record has no line break */
        if ((status = end_line(s, record_line, err)) != GT_OK)
            return status;
    }
    if (!s->header_fields)
        return gt_error_set(err, GT_ERR_PARSE, "%s: no header row — the file is empty", s->path);
    return GT_OK;
}

gt_status gt_read_csv(gt_dataset_builder *b, gt_error *err)
{
    FILE *f;
    gt_status status = gt_open_file(b->opt.path, &f, err);
    if (status != GT_OK)
        return status;
    status = gt_read_csv_stream(b, f, err);
    fclose(f);
    return status;
}

gt_status gt_read_csv_stream(gt_dataset_builder *b, FILE *f, gt_error *err)
{
    const char *path = b->opt.path;
    byte_reader *r = calloc(1, sizeof *r);
    if (!r)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
    r->f = f;
    r->pushed = -1;
    csv_state s = {.b = b, .path = path, .text_col = -1, .label_col = -1, .id_col = -1};
    gt_status status = parse(&s, r, err);
    free(r);
    gt_bytes_free(&s.record);
    free(s.starts);
    for (size_t i = 0; i < s.header_fields; i++)
        free(s.header[i]);
    free(s.header);
    return status;
}
