/* greentune/config.h — YAML and JSON files as one tree, with typed getters.
 *
 * Pipeline and experiment files (YAML), Hugging Face config.json and
 * tokenizer.json (JSON) all load into a cJSON tree. YAML scalars are typed by
 * the YAML 1.2 core schema (null, bool, int, float, else string; quoted scalars
 * stay strings). Parsers are bounded (size, nesting depth, node count, scalar
 * length) and YAML aliases are refused, so hostile files cannot blow up memory.
 *
 *   gt_config *cfg;
 *   if (gt_config_load("pipeline.yaml", &cfg, &err) != GT_OK) ...
 *   gt_config_set(cfg, "train.lr=1e-3", &err);            // a --set override
 *   double lr;
 *   gt_config_number(cfg, "train.lr", 5e-4, 0, 1, &lr, &err);
 *   // -> "pipeline.yaml:7:14: train.lr: expected a number, got \"abc\""
 *
 * Errors name where the value came from: file:line:column for YAML, the file
 * for JSON, the --set text for overrides. */
#ifndef GREENTUNE_CONFIG_H
#define GREENTUNE_CONFIG_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "greentune/common.h"

#define GT_CONFIG_MAX_YAML_BYTES (16u << 20)
#define GT_CONFIG_MAX_JSON_BYTES (64u << 20) /* tokenizer.json files reach tens of MB */
#define GT_CONFIG_MAX_DEPTH 64
#define GT_CONFIG_MAX_NODES 100000u /* per YAML file */
#define GT_CONFIG_MAX_SCALAR (1u << 20)

typedef struct gt_config gt_config;

/* Loads a file: JSON when the name ends in .json, YAML otherwise. The top level
 * must be a mapping (an empty YAML file is an empty mapping). */
GT_API gt_status gt_config_load(const char *path, gt_config **out, gt_error *err);
/* The same from memory (the fuzzing entry points); label names the text in
 * messages and relative paths resolve against the current directory. */
GT_API gt_status gt_config_parse_yaml(const char *text, size_t len, const char *label, gt_config **out,
                                      gt_error *err);
GT_API gt_status gt_config_parse_json(const char *text, size_t len, const char *label, gt_config **out,
                                      gt_error *err);
GT_API void gt_config_free(gt_config *cfg);

GT_API const cJSON *gt_config_root(const gt_config *cfg);
GT_API const char *gt_config_label(const gt_config *cfg);

/* The node at a dotted path ("train.lr"; a number selects a list item:
 * "data.split.0"), or NULL. An empty path is the root. */
GT_API const cJSON *gt_config_get(const gt_config *cfg, const char *path);

/* Typed getters. A missing or null value gives def; a value of the wrong type or
 * outside [min, max] is an error naming where it came from. */
GT_API gt_status gt_config_number(const gt_config *cfg, const char *path, double def, double min, double max,
                                  double *out, gt_error *err);
GT_API gt_status gt_config_int(const gt_config *cfg, const char *path, long long def, long long min,
                               long long max, long long *out, gt_error *err);
GT_API gt_status gt_config_bool(const gt_config *cfg, const char *path, int def, int *out, gt_error *err);
/* *out points into the tree (or is def). */
GT_API gt_status gt_config_string(const gt_config *cfg, const char *path, const char *def, const char **out,
                                  gt_error *err);
/* A string naming a file, resolved against the config file's directory (a
 * value from --set resolves against the current directory, where the user typed
 * it). *out is malloc'd, or NULL when the value is absent and def is NULL. */
GT_API gt_status gt_config_path(const gt_config *cfg, const char *path, const char *def, char **out,
                                gt_error *err);

/* Applies "a.b.c=value": value is YAML (a scalar, or a flow collection such as
 * "{n: 2, from: top}"); missing mappings on the way are created. */
GT_API gt_status gt_config_set(gt_config *cfg, const char *assignment, gt_error *err);

/* Refuses any key of the mapping at path (the root for "") that is not in
 * allowed (NULL-terminated), suggesting the closest allowed key:
 * "pipeline.yaml:2:1: trian: unknown key (did you mean \"train\"?)". A missing
 * mapping is fine; a value that is not a mapping is an error. */
GT_API gt_status gt_config_check_keys(const gt_config *cfg, const char *path, const char *const *allowed,
                                      gt_error *err);

/* Fills err with "<where node came from>: <path>: <message>" and returns status,
 * for checks the getters do not cover (an unknown enum value, say). node may be
 * NULL (then the file alone is named). */
GT_API gt_status gt_config_error(const gt_config *cfg, const cJSON *node, const char *path, gt_error *err,
                                 gt_status status, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Parses JSON text with the size and depth bounds above into a cJSON tree. */
GT_API gt_status gt_json_parse(const char *text, size_t len, const char *label, cJSON **out, gt_error *err);
/* Reads a JSON file (of any name) the same way. */
GT_API gt_status gt_json_load(const char *path, cJSON **out, gt_error *err);
/* tree as pretty-printed JSON (two-space indent, trailing newline) in a malloc'd
 * string, or NULL when out of memory. */
GT_API char *gt_json_print(const cJSON *tree);
/* Writes gt_json_print's text to path, atomically. */
GT_API gt_status gt_json_write_file(const char *path, const cJSON *tree, gt_error *err);

#endif
