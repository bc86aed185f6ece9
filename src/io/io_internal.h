/* Helpers shared by the readers and writers in src/io (not public API). */
#ifndef GREENTUNE_IO_INTERNAL_H
#define GREENTUNE_IO_INTERNAL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "greentune/common.h"

/* Index of the first byte of s[0..n) that does not belong to well-formed UTF-8
 * (no overlong forms, no surrogates, nothing above U+10FFFF), or n. */
size_t gt_utf8_invalid_at(const unsigned char *s, size_t n);

/* gt_error_set for messages that quote file contents: control characters in the
 * result become '?', so a hostile name can never break the message's one line. */
gt_status gt_io_error(gt_error *err, gt_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies src into dst[cap] for display: control characters become '?', and a
 * cut never splits a UTF-8 sequence. */
void gt_copy_display_text(char *dst, size_t cap, const char *src);

/* Writes s as a JSON string literal (quotes, escapes; UTF-8 passes through). */
void gt_json_write_string(FILE *out, const char *s);

/* A member of some object in tree whose key an earlier member of the same object
 * already has, or NULL when every key is unique. O(n log n) per object, so a
 * hostile file with many keys cannot make it quadratic. */
const cJSON *gt_json_duplicate_key(const cJSON *tree);

#endif
