/* JSON Lines (one object per line) and JSON arrays of objects (Devign's
 * function.json): text_field, label_field and id_field name keys. */
#include "data/reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/fileio.h"

/* Column of the parse error within text (1-based), from cJSON's error pointer. */
static size_t error_column(const char *text, size_t len)
{
    const char *at = cJSON_GetErrorPtr();
    if (!at || at < text || at > text + len)
        return 0;
    return (size_t)(at - text) + 1;
}

static gt_status add_object(gt_dataset_builder *b, const cJSON *obj, const char *where, gt_error *err)
{
    if (!cJSON_IsObject(obj))
        return gt_error_set(err, GT_ERR_PARSE, "%s: expected a JSON object with \"%s\" and \"%s\"", where,
                            b->opt.text_field, b->opt.label_field);
    const char *text;
    size_t text_len;
    gt_status status = gt_json_text_field(obj, b->opt.text_field, where, &text, &text_len, err);
    if (status != GT_OK)
        return status;
    int label;
    status = gt_label_parse_json(b, cJSON_GetObjectItemCaseSensitive(obj, b->opt.label_field), where, &label, err);
    if (status != GT_OK)
        return status;
    char id_buf[64];
    const char *id = NULL;
    size_t id_len = 0;
    if (b->opt.id_field) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, b->opt.id_field);
        if (cJSON_IsString(v) && v->valuestring) {
            id = v->valuestring;
        } else if (cJSON_IsNumber(v)) {
            snprintf(id_buf, sizeof id_buf, "%.17g", v->valuedouble);
            id = id_buf;
        } else {
            return gt_error_set(err, GT_ERR_PARSE, "%s: no string or number \"%s\" field — set id_field to the key "
                                "of the sample id, or leave it unset", where, b->opt.id_field);
        }
        id_len = strlen(id);
    }
    return gt_builder_add(b, text, text_len, label, id, id_len, where, err);
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

gt_status gt_read_jsonl(gt_dataset_builder *b, gt_error *err)
{
    FILE *f;
    gt_status status = gt_open_file(b->opt.path, &f, err);
    if (status != GT_OK)
        return status;
    status = gt_read_jsonl_stream(b, f, err);
    fclose(f);
    return status;
}

gt_status gt_read_jsonl_stream(gt_dataset_builder *b, FILE *f, gt_error *err)
{
    const char *path = b->opt.path;
    gt_status status = GT_OK;
    gt_bytes line = {0};
    size_t line_no = 0, total = 0;
    int c = 0;
    while (status == GT_OK && c != EOF) {
        line.n = 0;
        line_no++;
        while ((c = getc_unlocked(f)) != EOF && c != '\n') {
            if (line.n >= b->opt.max_record_bytes) {
                status = gt_error_set(err, GT_ERR_NOMEM, "%s: line %zu: longer than the %zu-byte record limit",
                                      path, line_no, b->opt.max_record_bytes);
                break;
            }
            if (gt_bytes_append(&line, &(char){(char)c}, 1) != 0) {
                status = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
        }
        if (status != GT_OK)
            break;
        total += line.n + 1;
        if (total > b->opt.max_file_bytes) {
            status = gt_error_set(err, GT_ERR_NOMEM, "%s: larger than the %zu-byte file limit", path,
                                  b->opt.max_file_bytes);
            break;
        }
        if (is_blank(line.v ? line.v : "", line.n))
            continue;
        char where[512];
        snprintf(where, sizeof where, "%s: line %zu", path, line_no);
        cJSON *obj = cJSON_ParseWithLength(line.v, line.n);
        if (!obj) {
            status = gt_error_set(err, GT_ERR_PARSE, "%s: invalid JSON near column %zu — each line must be one JSON "
                                  "object", where, error_column(line.v, line.n));
            break;
        }
        status = add_object(b, obj, where, err);
        cJSON_Delete(obj);
    }
    if (status == GT_OK && ferror(f))
        status = gt_error_set(err, GT_ERR_IO, "%s: read error", path);
    gt_bytes_free(&line);
    return status;
}

gt_status gt_read_json_array(gt_dataset_builder *b, gt_error *err)
{
    char *text;
    size_t len;
    gt_status status = gt_read_file(b->opt.path, b->opt.max_file_bytes, &text, &len, err);
    if (status != GT_OK)
        return status;
    status = gt_read_json_array_text(b, text, len, err);
    free(text);
    return status;
}

gt_status gt_read_json_array_text(gt_dataset_builder *b, const char *text, size_t len, gt_error *err)
{
    const char *path = b->opt.path;
    cJSON *root;
    gt_status status = GT_OK;
    if (len > b->opt.max_file_bytes)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: larger than the %zu-byte file limit", path,
                            b->opt.max_file_bytes);
    status = gt_parse_json_text(path, text, len, &root, err);
    if (status == GT_ERR_PARSE && err) {
        char reason[GT_ERROR_MESSAGE_MAX];
        memcpy(reason, err->message, sizeof reason);
        return gt_error_set(err, status, "%s — expected an array of objects", reason);
    }
    if (status != GT_OK)
        return status;
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return gt_error_set(err, GT_ERR_PARSE, "%s: the top level is not an array — use format jsonl for one object "
                            "per line", path);
    }
    size_t index = 0;
    for (const cJSON *obj = root->child; obj && status == GT_OK; obj = obj->next, index++) {
        char where[512];
        snprintf(where, sizeof where, "%s: record %zu", path, index);
        status = add_object(b, obj, where, err);
    }
    cJSON_Delete(root);
    return status;
}
