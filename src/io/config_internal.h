/* Shared between config.c and yaml.c (not public API). */
#ifndef GREENTUNE_CONFIG_INTERNAL_H
#define GREENTUNE_CONFIG_INTERNAL_H

#include "greentune/config.h"

/* Where a node was written: source is the file's label or a --set text; line 0
 * means the source has no lines (JSON, --set). Key position is the mapping key's. */
typedef struct {
    const cJSON *node;
    const char *source;
    int line, column, key_line, key_column;
} gt_config_position;

struct gt_config {
    cJSON *root;
    char *label;
    char *dir;                     /* relative paths resolve against it */
    gt_config_position *positions; /* appended as nodes are made; later entries win */
    size_t position_count, position_cap;
    char **sources;                /* --set texts, owned */
    size_t source_count;
};

/* Records where node came from; returns 0 when out of memory. */
int gt_config_note(gt_config *cfg, const cJSON *node, const char *source, int line, int column, int key_line,
                   int key_column);

/* Where node was noted, newest first; NULL when it was not. */
const gt_config_position *gt_config_position_of(const gt_config *cfg, const cJSON *node);

/* Parses one YAML document into *root (NULL for an empty document), noting
 * positions into cfg under the name source: lines and columns for a file
 * (with_lines), none for a --set value (errors then give the character). */
gt_status gt_yaml_parse(gt_config *cfg, const char *text, size_t len, const char *source, int with_lines,
                        cJSON **root, gt_error *err);

#endif
