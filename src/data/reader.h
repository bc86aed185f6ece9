/* What the data set readers share: a builder that repairs UTF-8, bounds sizes,
 * checks labels and classes, and the label parser. One reader per file:
 * read_spamassassin.c, read_csv.c, read_json.c, read_textdir.c. */
#ifndef GREENTUNE_DATA_READER_H
#define GREENTUNE_DATA_READER_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "data/data_internal.h"
#include "greentune/data.h"

#define GT_DATA_DEFAULT_MAX_FILE ((size_t)4 << 30)
#define GT_DATA_DEFAULT_MAX_RECORD ((size_t)64 << 20)
#define GT_DATA_DEFAULT_MAX_FIELD ((size_t)16 << 20)
#define GT_DATA_DEFAULT_MAX_RECORDS ((size_t)50000000)
#define GT_DATA_MAX_CLASSES 1000

typedef struct {
    gt_dataset *ds;
    gt_data_options opt;  /* with the defaults filled in */
    size_t cap;
} gt_dataset_builder;

gt_status gt_builder_init(gt_dataset_builder *b, const gt_data_options *opt, gt_error *err);
/* Replaces the classes (the text-directory reader names them after directories). */
gt_status gt_builder_set_classes(gt_dataset_builder *b, char **names, int n, gt_error *err);
/* Appends one sample; text may hold invalid UTF-8 (repaired and counted). id NULL:
 * the record number. where names the place for errors ("file: line 7"). */
gt_status gt_builder_add(gt_dataset_builder *b, const char *text, size_t len, int label, const char *id,
                         size_t id_len, const char *where, gt_error *err);
/* Hands over the data set after checking it is not empty and every class has samples. */
gt_status gt_builder_finish(gt_dataset_builder *b, gt_dataset **out, gt_error *err);
void gt_builder_abort(gt_dataset_builder *b);

/* Parses a label given as text ("1", "true", or a mapped name). On failure
 * fills err with "<where>: label <value> is not ... — <fix>". */
gt_status gt_label_parse(const gt_dataset_builder *b, const char *s, size_t len, const char *where, int *label,
                         gt_error *err);
/* The same for a JSON value (number, boolean or string). */
gt_status gt_label_parse_json(const gt_dataset_builder *b, const cJSON *value, const char *where, int *label,
                              gt_error *err);

gt_status gt_read_spamassassin(gt_dataset_builder *b, gt_error *err);
gt_status gt_read_csv(gt_dataset_builder *b, gt_error *err);
gt_status gt_read_jsonl(gt_dataset_builder *b, gt_error *err);
gt_status gt_read_json_array(gt_dataset_builder *b, gt_error *err);
gt_status gt_read_textdir(gt_dataset_builder *b, gt_error *err);

/* The same readers over an open stream or over text in memory (gt_dataset_load
 * opens the file and calls these; gt_dataset_parse hands them a buffer). */
gt_status gt_read_csv_stream(gt_dataset_builder *b, FILE *f, gt_error *err);
gt_status gt_read_jsonl_stream(gt_dataset_builder *b, FILE *f, gt_error *err);
gt_status gt_read_json_array_text(gt_dataset_builder *b, const char *text, size_t len, gt_error *err);
/* One SpamAssassin message (a file's contents; path names it in errors). */
gt_status gt_read_spamassassin_message(gt_dataset_builder *b, const char *text, size_t len, const char *path,
                                       const char *group, int label, gt_error *err);

/* Sorted names of the entries of dir (hidden ones skipped) that are directories
 * (want_dirs) or regular files; caller frees each name and the array. */
gt_status gt_list_directory(const char *dir, int want_dirs, char ***names, size_t *n, gt_error *err);
void gt_free_names(char **names, size_t n);

/* fopen(path, "rb") with an error naming the path and the reason. */
gt_status gt_open_file(const char *path, FILE **file, gt_error *err);
/* Reads and parses a JSON file of at most max bytes; a syntax error names its line. */
gt_status gt_parse_json_file(const char *path, size_t max, cJSON **root, gt_error *err);
/* The same for text in memory; label names it in errors. */
gt_status gt_parse_json_text(const char *label, const char *text, size_t len, cJSON **root, gt_error *err);

/* A text field of a JSON object: a string, or a clear error naming key and where. */
gt_status gt_json_text_field(const cJSON *object, const char *key, const char *where, const char **text,
                             size_t *len, gt_error *err);

#endif
