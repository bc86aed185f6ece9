/* Shared by the config targets (YAML, JSON, --set): read a loaded tree back
 * through every getter the pipeline and experiment loaders use, and check that
 * the tree survives being written as JSON and read again — run records and
 * reports embed config values, so a value that cannot be written is a bug. */
#ifndef GREENTUNE_FUZZ_CONFIG_H
#define GREENTUNE_FUZZ_CONFIG_H

#include <math.h>

#include "fuzz.h"
#include "greentune/config.h"

static inline int fuzz_all_finite(const cJSON *node)
{
    if (cJSON_IsNumber(node) && !isfinite(node->valuedouble))
        return 0;
    for (const cJSON *c = node->child; c; c = c->next)
        if (!fuzz_all_finite(c))
            return 0;
    return 1;
}

static inline void fuzz_config_read_back(const gt_config *cfg)
{
    static const char *const paths[] = {"data.path", "data.limit", "data.split.0", "data.split.2", "train.lr",
                                        "train.epochs", "model.layers", "model.from", "knobs", "name",
                                        "variants.0.name", "variants.1.knobs", "set", "0", "", "a.b.c.d"};
    static const char *const top_keys[] = {"data", "tokenizer", "model", "train", "eval", "system", "knobs", NULL};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *path = paths[i];
        gt_error err = {0};
        double number;
        long long integer;
        int flag;
        const char *text;
        char *file = NULL;
        (void)gt_config_get(cfg, path);
        if (gt_config_number(cfg, path, 1, -1e9, 1e9, &number, &err) != GT_OK)
            fuzz_check_message(err.message);
        if (gt_config_int(cfg, path, 1, -1000000, 1000000, &integer, &err) != GT_OK)
            fuzz_check_message(err.message);
        if (gt_config_bool(cfg, path, 0, &flag, &err) != GT_OK)
            fuzz_check_message(err.message);
        if (gt_config_string(cfg, path, NULL, &text, &err) != GT_OK)
            fuzz_check_message(err.message);
        if (gt_config_path(cfg, path, NULL, &file, &err) != GT_OK)
            fuzz_check_message(err.message);
        free(file);
        if (gt_config_check_keys(cfg, path, top_keys, &err) != GT_OK)
            fuzz_check_message(err.message);
    }
    const cJSON *root = gt_config_root(cfg);
    FUZZ_ASSERT(cJSON_IsObject(root));
    char *text = gt_json_print(root);
    FUZZ_ASSERT(text != NULL);
    if (fuzz_all_finite(root)) { /* JSON has no infinity or NaN: those print as null */
        cJSON *again = NULL;
        gt_error err = {0};
        if (gt_json_parse(text, strlen(text), "printed", &again, &err) != GT_OK) {
            fprintf(stderr, "printed tree does not parse: %s\n%s\n", err.message, text);
            abort();
        }
        /* Equal trees print equal text. (cJSON_Compare is exponential in the
         * depth of nested objects: a 269-byte --set input took 40 s.) */
        char *reprinted = gt_json_print(again);
        FUZZ_ASSERT(reprinted && !strcmp(reprinted, text));
        free(reprinted);
        cJSON_Delete(again);
    }
    free(text);
}

/* A config text through one of the parsers: an error is one line and leaves
 * nothing; a tree is read back whole. */
static inline void fuzz_config_text(gt_status (*parse)(const char *, size_t, const char *, gt_config **, gt_error *),
                                    const char *label, const uint8_t *data, size_t size)
{
    gt_config *cfg = NULL;
    gt_error err = {0};
    gt_status status = parse((const char *)data, size, label, &cfg, &err);
    if (status != GT_OK) {
        FUZZ_ASSERT(!cfg && err.status == status);
        fuzz_check_message(err.message);
        return;
    }
    fuzz_config_read_back(cfg);
    gt_config_free(cfg);
}

#endif
