/* Helpers shared by the tests of src/data (header-only: each test is its own program). */
#ifndef GREENTUNE_DATA_TESTS_H
#define GREENTUNE_DATA_TESTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/data.h"
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
