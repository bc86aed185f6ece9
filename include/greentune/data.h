/* greentune/data.h — labelled text data sets: readers and stratified splits.
 *
 *   gt_data_options opt;
 *   gt_data_options_init(&opt);
 *   opt.format = GT_DATA_CSV;  opt.path = "bigvul.csv";
 *   opt.text_field = "func_before";  opt.label_field = "vul";
 *   gt_dataset *ds;  gt_split split;
 *   if (gt_dataset_load(&ds, &opt, &err) != GT_OK) ...
 *   double fractions[3] = {0.8, 0.1, 0.1};
 *   if (gt_dataset_split(ds, fractions, seed, limit, &split, &err) != GT_OK) ...
 *   ... ds->texts[split.train.idx[i]], ds->labels[split.train.idx[i]] ...
 *   gt_split_free(&split);  gt_dataset_free(ds);
 *
 * Every text is valid UTF-8 once loaded: invalid sequences are replaced with
 * U+FFFD and counted in ds->stats. Sizes are bounded (file, record, field) and
 * every problem is one error line naming the file, the line or record, and
 * the value. */
#ifndef GREENTUNE_DATA_H
#define GREENTUNE_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"

typedef enum {
    GT_DATA_SPAMASSASSIN,  /* data/spamassassin/GROUP/N.json from `make data`; spam = 1 */
    GT_DATA_CSV,           /* RFC 4180, header row; text_field / label_field name columns */
    GT_DATA_JSONL,         /* one JSON object per line */
    GT_DATA_JSON,          /* one JSON array of objects (Devign's function.json) */
    GT_DATA_TEXTDIR        /* PATH/<class>/<file>: one text per file, one directory per class */
} gt_data_format;

/* A string label and the class it stands for ("spam" -> 1). */
typedef struct {
    const char *name;
    int label;
} gt_label_name;

typedef struct {
    gt_data_format format;
    const char *path;
    const char *text_field;    /* column or key of the text (default "text") */
    const char *label_field;   /* column or key of the label (default "label") */
    const char *id_field;      /* column or key of a sample id; NULL: the 0-based record number */
    /* Labels are 0/1 (or 0..n_classes-1) integers or booleans; with label_names,
     * strings (and directory names) map to classes instead. */
    const gt_label_name *label_names;
    size_t n_label_names;
    int n_classes;             /* 0: 2, or one more than the largest label_names class */
    size_t max_file_bytes;     /* 0: 4 GiB */
    size_t max_record_bytes;   /* one CSV record / JSON line / JSON file; 0: 64 MiB */
    size_t max_field_bytes;    /* one text; 0: 16 MiB */
    size_t max_records;        /* 0: 50 million */
} gt_data_options;

typedef struct {
    size_t records;            /* samples read */
    size_t text_bytes;         /* bytes of text, after UTF-8 repair */
    size_t invalid_utf8;       /* invalid UTF-8 sequences replaced with U+FFFD */
    size_t texts_with_invalid_utf8;
    size_t empty_texts;
} gt_data_stats;

typedef struct {
    size_t n;                  /* samples */
    char **texts;              /* valid UTF-8, NUL-terminated */
    size_t *lengths;           /* bytes of each text */
    int *labels;               /* class of each sample, 0 .. n_classes-1 */
    char **ids;                /* id of each sample (record number, "group/id", "class/file") */
    int n_classes;
    char **class_names;        /* "0", "1", or the label / directory names */
    size_t *class_counts;      /* samples per class */
    gt_data_stats stats;
    char *source;              /* the path that was read */
    gt_data_format format;
} gt_dataset;

GT_API void gt_data_options_init(gt_data_options *opt);
/* "spamassassin", "csv", "jsonl", "json", "textdir" (also "dir"). */
GT_API gt_status gt_data_format_parse(const char *name, gt_data_format *format, gt_error *err);
GT_API const char *gt_data_format_name(gt_data_format format);

/* Reads a whole data set. Fails on an empty set and on a class with no samples. */
GT_API gt_status gt_dataset_load(gt_dataset **out, const gt_data_options *opt, gt_error *err);
/* The same over a file's contents in memory, for the formats that are one file
 * (csv, jsonl, json); opt->path only names the text in messages. The fuzzing
 * entry point. */
GT_API gt_status gt_dataset_parse(gt_dataset **out, const gt_data_options *opt, const void *data, size_t len,
                                  gt_error *err);
GT_API void gt_dataset_free(gt_dataset *ds);

/* Copies in[0..len) to a new NUL-terminated buffer, replacing each maximal
 * ill-formed UTF-8 subsequence with U+FFFD (the Unicode "best practice", as
 * Python's errors="replace"); *replaced counts the replacements. */
GT_API gt_status gt_utf8_sanitize(const char *in, size_t len, char **out, size_t *out_len, size_t *replaced,
                                  gt_error *err);

/* --- splits ------------------------------------------------------------------ */

/* Sample indices into a data set, ascending. */
typedef struct {
    size_t *idx;
    size_t n;
} gt_index_set;

typedef struct {
    gt_index_set train, val, test;
} gt_split;

/* Deterministic stratified split: each class is shuffled with the seed and cut
 * by fractions (train, validation, test; they must sum to 1), so every part's
 * count of every class is within one sample of its exact share. limit > 0 first
 * keeps a stratified subset of limit samples. Every class must reach train. */
GT_API gt_status gt_dataset_split(const gt_dataset *ds, const double fractions[3], uint64_t seed, size_t limit,
                                  gt_split *out, gt_error *err);

/* A split given as files of sample ids, one per line ('#' comments and blank
 * lines skipped): paths[0] train, paths[1] validation (may be NULL), paths[2]
 * test. Unknown ids and ids listed twice are errors. */
GT_API gt_status gt_dataset_split_files(const gt_dataset *ds, const char *const paths[3], gt_split *out,
                                        gt_error *err);

/* k samples of from, stratified by class and chosen with the seed (the same
 * rule as limit); the hook for subsampling knobs. */
GT_API gt_status gt_dataset_stratified_subset(const gt_dataset *ds, const gt_index_set *from, size_t k, uint64_t seed,
                                              gt_index_set *out, gt_error *err);

/* Keeps the indices for which keep() returns non-zero, in order; returns how
 * many were dropped. The hook for dedup / filtering knobs. */
GT_API size_t gt_index_set_filter(gt_index_set *set, int (*keep)(size_t index, void *ctx), void *ctx);

/* counts[c] = samples of class c in set (counts has ds->n_classes entries). */
GT_API void gt_index_set_class_counts(const gt_dataset *ds, const gt_index_set *set, size_t *counts);

GT_API void gt_index_set_free(gt_index_set *set);
GT_API void gt_split_free(gt_split *split);

#endif
