/* The data set: options, loading (dispatch to one reader per format), the
 * builder every reader appends to, and the checks that run once it is read. */
#include "data/reader.h"
#include "greentune/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const format_names[] = {"spamassassin", "csv", "jsonl", "json", "textdir"};

void gt_data_options_init(gt_data_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->format = GT_DATA_SPAMASSASSIN;
    opt->text_field = "text";
    opt->label_field = "label";
}

gt_status gt_data_format_parse(const char *name, gt_data_format *format, gt_error *err)
{
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++) {
        if (!strcmp(name, format_names[i])) {
            *format = (gt_data_format)i;
            return GT_OK;
        }
    }
    if (!strcmp(name, "dir")) {
        *format = GT_DATA_TEXTDIR;
        return GT_OK;
    }
    return gt_error_set(err, GT_ERR_INVALID,
                        "data format \"%s\" is unknown — use spamassassin, csv, jsonl, json or textdir", name);
}

const char *gt_data_format_name(gt_data_format format)
{
    return (unsigned)format < sizeof format_names / sizeof format_names[0] ? format_names[format] : "unknown";
}

static char *dup_text(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static void free_class_names(gt_dataset *ds)
{
    if (ds->class_names)
        for (int c = 0; c < ds->n_classes; c++)
            free(ds->class_names[c]);
    free(ds->class_names);
    ds->class_names = NULL;
}

gt_status gt_builder_set_classes(gt_dataset_builder *b, char **names, int n, gt_error *err)
{
    gt_dataset *ds = b->ds;
    if (n < 1 || n > GT_DATA_MAX_CLASSES)
        return gt_error_set(err, GT_ERR_INVALID, "%s: %d classes — between 1 and %d are supported", ds->source, n,
                            GT_DATA_MAX_CLASSES);
    free_class_names(ds);
    ds->n_classes = n;
    ds->class_names = calloc((size_t)n, sizeof *ds->class_names);
    if (!ds->class_names)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    for (int c = 0; c < n; c++) {
        char number[16];
        snprintf(number, sizeof number, "%d", c);
        ds->class_names[c] = strdup(names && names[c] ? names[c] : number);
        if (!ds->class_names[c])
            return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    }
    return GT_OK;
}

gt_status gt_builder_init(gt_dataset_builder *b, const gt_data_options *opt, gt_error *err)
{
    memset(b, 0, sizeof *b);
    b->opt = *opt;
    if (!b->opt.path || !*b->opt.path)
        return gt_error_set(err, GT_ERR_INVALID, "data: no path given — set data.path to the data set");
    if (!b->opt.text_field)
        b->opt.text_field = "text";
    if (!b->opt.label_field)
        b->opt.label_field = "label";
    if (!b->opt.max_file_bytes)
        b->opt.max_file_bytes = GT_DATA_DEFAULT_MAX_FILE;
    if (!b->opt.max_record_bytes)
        b->opt.max_record_bytes = GT_DATA_DEFAULT_MAX_RECORD;
    if (!b->opt.max_field_bytes)
        b->opt.max_field_bytes = GT_DATA_DEFAULT_MAX_FIELD;
    if (!b->opt.max_records)
        b->opt.max_records = GT_DATA_DEFAULT_MAX_RECORDS;

    /* Classes: n_classes, else one more than the largest mapped label, else 2. */
    int n_classes = opt->n_classes;
    for (size_t i = 0; i < opt->n_label_names; i++) {
        const gt_label_name *m = &opt->label_names[i];
        if (!m->name || m->label < 0 || m->label >= GT_DATA_MAX_CLASSES)
            return gt_error_set(err, GT_ERR_INVALID, "data: label mapping \"%s\" -> %d: classes are 0..%d",
                                m->name ? m->name : "(null)", m->label, GT_DATA_MAX_CLASSES - 1);
        if (!opt->n_classes && m->label + 1 > n_classes)
            n_classes = m->label + 1;
        if (opt->n_classes && m->label >= opt->n_classes)
            return gt_error_set(err, GT_ERR_INVALID, "data: label mapping \"%s\" -> %d is outside the %d classes",
                                m->name, m->label, opt->n_classes);
    }
    if (n_classes == 0)
        n_classes = 2;
    if (n_classes < 2 || n_classes > GT_DATA_MAX_CLASSES)
        return gt_error_set(err, GT_ERR_INVALID, "data: %d classes — a classifier needs 2 to %d", n_classes,
                            GT_DATA_MAX_CLASSES);

    b->ds = calloc(1, sizeof *b->ds);
    if (!b->ds || !(b->ds->source = strdup(b->opt.path))) {
        gt_builder_abort(b);
        return gt_error_set(err, GT_ERR_NOMEM, "data: out of memory");
    }
    b->ds->format = opt->format;
    char *names[GT_DATA_MAX_CLASSES] = {0};
    for (size_t i = 0; i < opt->n_label_names; i++)
        if (!names[opt->label_names[i].label])
            names[opt->label_names[i].label] = (char *)opt->label_names[i].name;
    gt_status status = gt_builder_set_classes(b, names, n_classes, err);
    if (status != GT_OK)
        gt_builder_abort(b);
    return status;
}

static int builder_grow(gt_dataset_builder *b)
{
    gt_dataset *ds = b->ds;
    size_t cap = b->cap ? b->cap * 2 : 1024;
    char **texts = realloc(ds->texts, cap * sizeof *texts);
    if (!texts)
        return -1;
    ds->texts = texts;
    size_t *lengths = realloc(ds->lengths, cap * sizeof *lengths);
    if (!lengths)
        return -1;
    ds->lengths = lengths;
    int *labels = realloc(ds->labels, cap * sizeof *labels);
    if (!labels)
        return -1;
    ds->labels = labels;
    char **ids = realloc(ds->ids, cap * sizeof *ids);
    if (!ids)
        return -1;
    ds->ids = ids;
    b->cap = cap;
    return 0;
}

gt_status gt_builder_add(gt_dataset_builder *b, const char *text, size_t len, int label, const char *id,
                         size_t id_len, const char *where, gt_error *err)
{
    gt_dataset *ds = b->ds;
    if (ds->n >= b->opt.max_records)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: more than %zu records — raise the record limit or use limit",
                            where, b->opt.max_records);
    if (len > b->opt.max_field_bytes)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: text of %zu bytes exceeds the %zu-byte field limit — raise it "
                            "or trim the data", where, len, b->opt.max_field_bytes);
    if (label < 0 || label >= ds->n_classes)
        return gt_error_set(err, GT_ERR_INVALID, "%s: label %d is outside the %d classes", where, label,
                            ds->n_classes);
    if (ds->n == b->cap && builder_grow(b) != 0)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", where);
    char *clean;
    size_t clean_len, replaced;
    gt_status status = gt_utf8_sanitize(text, len, &clean, &clean_len, &replaced, err);
    if (status != GT_OK)
        return status;
    char number[32];
    if (!id) {
        id_len = (size_t)snprintf(number, sizeof number, "%zu", ds->n);
        id = number;
    }
    char *id_copy = dup_text(id, id_len);
    if (!id_copy) {
        free(clean);
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", where);
    }
    ds->texts[ds->n] = clean;
    ds->lengths[ds->n] = clean_len;
    ds->labels[ds->n] = label;
    ds->ids[ds->n] = id_copy;
    ds->n++;
    ds->stats.records++;
    ds->stats.text_bytes += clean_len;
    ds->stats.invalid_utf8 += replaced;
    ds->stats.texts_with_invalid_utf8 += replaced > 0;
    ds->stats.empty_texts += clean_len == 0;
    return GT_OK;
}

gt_status gt_builder_finish(gt_dataset_builder *b, gt_dataset **out, gt_error *err)
{
    gt_dataset *ds = b->ds;
    *out = NULL;
    if (ds->n == 0)
        return gt_error_set(err, GT_ERR_INVALID, "%s: the data set is empty — check the path and the format (%s)",
                            ds->source, gt_data_format_name(ds->format));
    if (ds->n_classes < 2)
        return gt_error_set(err, GT_ERR_INVALID, "%s: only one class (\"%s\") — a classifier needs at least two",
                            ds->source, ds->class_names[0]);
    ds->class_counts = calloc((size_t)ds->n_classes, sizeof *ds->class_counts);
    if (!ds->class_counts)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", ds->source);
    for (size_t i = 0; i < ds->n; i++)
        ds->class_counts[ds->labels[i]]++;
    for (int c = 0; c < ds->n_classes; c++)
        if (ds->class_counts[c] == 0)
            return gt_error_set(err, GT_ERR_INVALID,
                                "%s: class %d (\"%s\") has no samples — a classifier needs every class; check the "
                                "label field and the label mapping",
                                ds->source, c, ds->class_names[c]);
    *out = ds;
    b->ds = NULL;
    return GT_OK;
}

void gt_builder_abort(gt_dataset_builder *b)
{
    gt_dataset_free(b->ds);
    b->ds = NULL;
}

void gt_dataset_free(gt_dataset *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->n; i++) {
        free(ds->texts[i]);
        free(ds->ids[i]);
    }
    free(ds->texts);
    free(ds->lengths);
    free(ds->labels);
    free(ds->ids);
    free_class_names(ds);
    free(ds->class_counts);
    free(ds->source);
    free(ds);
}

gt_status gt_dataset_load(gt_dataset **out, const gt_data_options *opt, gt_error *err)
{
    *out = NULL;
    gt_dataset_builder b;
    gt_status status = gt_builder_init(&b, opt, err);
    if (status != GT_OK)
        return status;
    switch (opt->format) {
    case GT_DATA_SPAMASSASSIN: status = gt_read_spamassassin(&b, err); break;
    case GT_DATA_CSV: status = gt_read_csv(&b, err); break;
    case GT_DATA_JSONL: status = gt_read_jsonl(&b, err); break;
    case GT_DATA_JSON: status = gt_read_json_array(&b, err); break;
    case GT_DATA_TEXTDIR: status = gt_read_textdir(&b, err); break;
    default: status = gt_error_set(err, GT_ERR_INVALID, "data: unknown format %d", (int)opt->format);
    }
    if (status == GT_OK)
        status = gt_builder_finish(&b, out, err);
    gt_builder_abort(&b);
    return status;
}

gt_status gt_dataset_parse(gt_dataset **out, const gt_data_options *opt, const void *data, size_t len,
                           gt_error *err)
{
    *out = NULL;
    if (opt->format != GT_DATA_CSV && opt->format != GT_DATA_JSONL && opt->format != GT_DATA_JSON)
        return gt_error_set(err, GT_ERR_INVALID, "data: format %s is a directory, not one file — use gt_dataset_load",
                            gt_data_format_name(opt->format));
    gt_dataset_builder b;
    gt_status status = gt_builder_init(&b, opt, err);
    if (status != GT_OK)
        return status;
    if (opt->format == GT_DATA_JSON) {
        status = gt_read_json_array_text(&b, data, len, err);
    } else {
        /* The stream readers take a FILE; fmemopen reads the buffer in place. */
        FILE *f = fmemopen((void *)data, len, "rb");
        if (!f)
            status = gt_error_set(err, GT_ERR_NOMEM, "%s: cannot read %zu bytes from memory: %s", b.opt.path, len,
                                  strerror(errno));
        else
            status = opt->format == GT_DATA_CSV ? gt_read_csv_stream(&b, f, err) : gt_read_jsonl_stream(&b, f, err);
        if (f)
            fclose(f);
    }
    if (status == GT_OK)
        status = gt_builder_finish(&b, out, err);
    gt_builder_abort(&b);
    return status;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void gt_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

gt_status gt_list_directory(const char *dir, int want_dirs, char ***names, size_t *n, gt_error *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return gt_error_set(err, errno == ENOENT ? GT_ERR_NOT_FOUND : errno == EACCES ? GT_ERR_PERMISSION : GT_ERR_IO,
                            "%s: %s", dir, strerror(errno));
    size_t cap = 0;
    char **list = NULL;
    gt_status status = GT_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **bigger = realloc(list, cap * sizeof *list);
            if (!bigger) {
                status = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory listing the directory", dir);
                break;
            }
            list = bigger;
        }
        if (!(list[*n] = strdup(e->d_name))) {
            status = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory listing the directory", dir);
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (status != GT_OK) {
        gt_free_names(list, *n);
        *n = 0;
        return status;
    }
    /* readdir order depends on the file system; sorting makes record numbers,
     * ids and therefore splits the same on every machine. */
    if (*n)
        qsort(list, *n, sizeof *list, compare_names);
    *names = list;
    return GT_OK;
}

gt_status gt_json_text_field(const cJSON *object, const char *key, const char *where, const char **text,
                             size_t *len, gt_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!v)
        return gt_error_set(err, GT_ERR_PARSE, "%s: no \"%s\" field — set text_field to the key holding the text",
                            where, key);
    if (!cJSON_IsString(v) || !v->valuestring)
        return gt_error_set(err, GT_ERR_PARSE, "%s: field \"%s\" is not a string", where, key);
    *text = v->valuestring;
    *len = strlen(v->valuestring);
    return GT_OK;
}

gt_status gt_open_file(const char *path, FILE **file, gt_error *err)
{
    *file = fopen(path, "rb");
    if (*file)
        return GT_OK;
    return gt_error_set(err, errno == ENOENT ? GT_ERR_NOT_FOUND : errno == EACCES ? GT_ERR_PERMISSION : GT_ERR_IO,
                        "%s: %s", path, strerror(errno));
}

gt_status gt_parse_json_file(const char *path, size_t max, cJSON **root, gt_error *err)
{
    char *text;
    size_t len;
    *root = NULL;
    gt_status status = gt_read_file(path, max, &text, &len, err);
    if (status != GT_OK)
        return status;
    status = gt_parse_json_text(path, text, len, root, err);
    free(text);
    return status;
}

gt_status gt_parse_json_text(const char *label, const char *text, size_t len, cJSON **root, gt_error *err)
{
    *root = cJSON_ParseWithLength(text, len);
    if (*root)
        return GT_OK;
    const char *at = cJSON_GetErrorPtr();
    size_t line = 1;
    for (const char *p = text; at && p < at && p < text + len; p++)
        line += *p == '\n';
    return gt_error_set(err, GT_ERR_PARSE, "%s: line %zu: invalid JSON", label, line);
}
