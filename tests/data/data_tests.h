/* Helpers shared by the tests of src/data (header-only: each test is its own program). */
#ifndef GREENTUNE_DATA_TESTS_H
#define GREENTUNE_DATA_TESTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/data.h"
#include "greentune/tokenizer.h"
#include "test_support.h"

/* Path of a checked-in fixture: tests/fixtures/<rel> (rotating static buffers). */
static inline const char *fixture(const char *rel)
{
    static char buffers[8][4096];
    static int next;
    char *out = buffers[next++ % 8];
    snprintf(out, 4096, "%s/tests/fixtures/%s", test_env("GREENTUNE_SOURCE_DIR"), rel);
    return out;
}

/* Loads a data set; on failure returns NULL with err filled. */
static inline gt_dataset *load_data(gt_data_format format, const char *path, const char *text_field,
                                    const char *label_field, gt_error *err)
{
    gt_data_options opt;
    gt_data_options_init(&opt);
    opt.format = format;
    opt.path = path;
    if (text_field)
        opt.text_field = text_field;
    if (label_field)
        opt.label_field = label_field;
    gt_dataset *ds = NULL;
    if (gt_dataset_load(&ds, &opt, err) != GT_OK)
        return NULL;
    return ds;
}

/* Loads a data set from options; on failure returns NULL with err filled. */
static inline gt_dataset *load_options(const gt_data_options *opt, gt_error *err)
{
    gt_dataset *ds = NULL;
    if (gt_dataset_load(&ds, opt, err) != GT_OK)
        return NULL;
    return ds;
}

/* Writes contents as the file name (in the test's directory), then loads it. */
static inline gt_dataset *load_text_as(gt_data_format format, const char *name, const char *contents, gt_error *err)
{
    const char *path = test_path(name);
    test_write_file(path, contents, strlen(contents));
    return load_data(format, path, NULL, NULL, err);
}

/* A data set whose string labels (or directory names) map to classes. */
static inline gt_dataset *load_with_names(gt_data_format format, const char *path, const gt_label_name *names,
                                          size_t n_names, gt_error *err)
{
    gt_data_options opt;
    gt_data_options_init(&opt);
    opt.format = format;
    opt.path = path;
    opt.label_names = names;
    opt.n_label_names = n_names;
    return load_options(&opt, err);
}

/* The options that read tests/fixtures/data/bigvul-mini.csv as BigVul is read:
 * text func_before, label vul, ids from the unnamed index column. */
static inline void bigvul_options(gt_data_options *opt)
{
    gt_data_options_init(opt);
    opt->format = GT_DATA_CSV;
    opt->path = fixture("data/bigvul-mini.csv");
    opt->text_field = "func_before";
    opt->label_field = "vul";
    opt->id_field = "";
}

static inline gt_dataset *load_bigvul(gt_error *err)
{
    gt_data_options opt;
    bigvul_options(&opt);
    gt_dataset *ds = load_options(&opt, err);
    if (!ds)
        test_fail(__FILE__, __LINE__, "%s", err->message);
    return ds;
}

/* The options that read tests/fixtures/data/devign-mini.jsonl as Devign is read. */
static inline void devign_options(gt_data_options *opt)
{
    gt_data_options_init(opt);
    opt->format = GT_DATA_JSONL;
    opt->path = fixture("data/devign-mini.jsonl");
    opt->text_field = "func";
    opt->label_field = "target";
}

/* A fixture tokenizer, tests/fixtures/tokenizers/<name> (NULL, reported, on failure). */
static inline gt_tokenizer *fixture_tokenizer(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s", name);
    gt_error err = {0};
    gt_tokenizer *tok = NULL;
    if (gt_tokenizer_load(&tok, fixture(rel), &err) != GT_OK)
        test_fail(__FILE__, __LINE__, "%s", err.message);
    return tok;
}

/* Runs Debian's python (GREENTUNE_PYTHON) with -c code and args; returns its
 * stdout (malloc'd) or NULL when it failed (its stderr is printed). */
static inline char *run_python(const char *code, const char *arg1, const char *arg2)
{
    char *argv[] = {(char *)test_env("GREENTUNE_PYTHON"), "-c", (char *)code, (char *)arg1, (char *)arg2, NULL};
    if (!arg1)
        argv[3] = NULL;
    else if (!arg2)
        argv[4] = NULL;
    char *out = NULL, *err = NULL;
    int rc = test_run(argv, &out, &err);
    if (rc != 0) {
        fprintf(stderr, "python failed (%d): %s\n", rc, err ? err : "");
        free(out);
        out = NULL;
    }
    free(err);
    return out;
}

#endif
