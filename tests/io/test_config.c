/* The config tree: YAML typed by the 1.2 core schema, bounded parsers, errors
 * that name file:line:column and key, --set overrides, unknown-key suggestions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "greentune/config.h"
#include "test_support.h"

static gt_config *yaml(const char *text)
{
    gt_config *cfg = NULL;
    gt_error err = {0};
    if (gt_config_parse_yaml(text, strlen(text), "cfg.yaml", &cfg, &err) != GT_OK)
        test_fail(__FILE__, __LINE__, "unexpected error: %s", err.message);
    return cfg;
}

/* Parses text that must fail; returns the message (static). */
static const char *yaml_error(const char *text)
{
    static gt_error err;
    memset(&err, 0, sizeof err);
    gt_config *cfg = NULL;
    if (gt_config_parse_yaml(text, strlen(text), "cfg.yaml", &cfg, &err) == GT_OK) {
        test_fail(__FILE__, __LINE__, "accepted: %.60s", text);
        gt_config_free(cfg);
    }
    CHECK(cfg == NULL);
    CHECK_MSG(!strchr(err.message, '\n'), "error spans lines: %s", err.message);
    return err.message;
}

#define CHECK_CONTAINS(haystack, needle) \
    CHECK_MSG(strstr((haystack), (needle)) != NULL, "expected \"%s\" in: %s", (needle), (haystack))

static int is_number(const gt_config *cfg, const char *path, double expect)
{
    const cJSON *v = gt_config_get(cfg, path);
    return cJSON_IsNumber(v) && (v->valuedouble == expect || (isnan(expect) && isnan(v->valuedouble)));
}

static int is_string(const gt_config *cfg, const char *path, const char *expect)
{
    const cJSON *v = gt_config_get(cfg, path);
    return cJSON_IsString(v) && !strcmp(v->valuestring, expect);
}

static void test_scalars_follow_the_yaml_1_2_core_schema(void)
{
    gt_config *cfg = yaml("s: hello\nq: \"123\"\nsq: '007'\ni: 42\nneg: -7\nplus: +3\nhex: 0x1F\noct: 0o17\n"
                          "f: 5.0e-4\nhalf: .5\ndot: 5.\ne: 1e3\ninf: .inf\nninf: -.Inf\nnan: .NaN\n"
                          "t: true\nT: True\nF: FALSE\nn: ~\nn2: null\nempty:\nyes: yes\noff: off\n"
                          "under: 1_000\nversion: 1.2.3\ntagged: !!str 12\nforced: !!float 3\n"
                          "block: |\n  line1\n  line2\nfolded: >\n  a\n  b\n");
    if (!cfg)
        return;
    CHECK(is_string(cfg, "s", "hello"));
    CHECK(is_string(cfg, "q", "123"));
    CHECK(is_string(cfg, "sq", "007"));
    CHECK(is_number(cfg, "i", 42));
    CHECK(is_number(cfg, "neg", -7));
    CHECK(is_number(cfg, "plus", 3));
    CHECK(is_number(cfg, "hex", 31));
    CHECK(is_number(cfg, "oct", 15));
    CHECK(is_number(cfg, "f", 5.0e-4));
    CHECK(is_number(cfg, "half", 0.5));
    CHECK(is_number(cfg, "dot", 5));
    CHECK(is_number(cfg, "e", 1000));
    CHECK(is_number(cfg, "inf", INFINITY));
    CHECK(is_number(cfg, "ninf", -INFINITY));
    CHECK(is_number(cfg, "nan", NAN));
    CHECK(cJSON_IsTrue(gt_config_get(cfg, "t")) && cJSON_IsTrue(gt_config_get(cfg, "T")));
    CHECK(cJSON_IsFalse(gt_config_get(cfg, "F")));
    CHECK(cJSON_IsNull(gt_config_get(cfg, "n")) && cJSON_IsNull(gt_config_get(cfg, "n2")));
    CHECK(cJSON_IsNull(gt_config_get(cfg, "empty")));
    /* YAML 1.1's yes/off booleans and 1_000 integers are plain strings in 1.2. */
    CHECK(is_string(cfg, "yes", "yes"));
    CHECK(is_string(cfg, "off", "off"));
    CHECK(is_string(cfg, "under", "1_000"));
    CHECK(is_string(cfg, "version", "1.2.3"));
    CHECK(is_string(cfg, "tagged", "12"));
    CHECK(is_number(cfg, "forced", 3));
    CHECK(is_string(cfg, "block", "line1\nline2\n"));
    CHECK(is_string(cfg, "folded", "a b\n"));
    gt_config_free(cfg);
}

static void test_nesting_and_flow_style(void)
{
    gt_config *cfg = yaml("data: {format: csv, split: [0.8, 0.1, 0.1]}\n"
                          "model:\n  arch: bert\n  layers: 4\n"
                          "variants:\n  - {name: V0}\n  - name: V8\n    knobs: {seq_trim: 64, prune: {n: 2, from: top}}\n");
    if (!cfg)
        return;
    CHECK(is_string(cfg, "data.format", "csv"));
    CHECK(is_number(cfg, "data.split.2", 0.1));
    CHECK(is_string(cfg, "model.arch", "bert"));
    CHECK(is_string(cfg, "variants.0.name", "V0"));
    CHECK(is_number(cfg, "variants.1.knobs.seq_trim", 64));
    CHECK(is_string(cfg, "variants.1.knobs.prune.from", "top"));
    CHECK(gt_config_get(cfg, "variants.2") == NULL);
    CHECK(gt_config_get(cfg, "model.arch.x") == NULL);
    CHECK(gt_config_get(cfg, "data..format") == NULL);
    CHECK(gt_config_get(cfg, "") == gt_config_root(cfg));
    gt_config_free(cfg);
}

static void test_empty_file_is_an_empty_mapping_and_lists_are_refused(void)
{
    gt_config *cfg = yaml("# nothing but a comment\n");
    CHECK(cfg && cJSON_IsObject(gt_config_root(cfg)) && gt_config_root(cfg)->child == NULL);
    gt_config_free(cfg);
    CHECK_CONTAINS(yaml_error("- a\n- b\n"), "cfg.yaml: the top level must be a mapping");
}

/* Nesting is bounded at 64 levels, counting the top-level mapping. */
static void test_depth_bomb(void)
{
    char text[512];
    int n = snprintf(text, sizeof text, "a: ");
    for (int i = 0; i < 63; i++)
        text[n++] = '[';
    for (int i = 0; i < 63; i++)
        text[n++] = ']';
    text[n] = '\0';
    gt_config *cfg = yaml(text);
    gt_config_free(cfg);
    n = snprintf(text, sizeof text, "a: ");
    for (int i = 0; i < 200; i++)
        text[n++] = '[';
    text[n] = '\0';
    const char *e = yaml_error(text);
    CHECK_CONTAINS(e, "cfg.yaml:1:67: nested more than 64 levels deep");
}

static void test_alias_bomb_is_refused(void)
{
    const char *laughs = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                         "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                         "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                         "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n";
    CHECK_CONTAINS(yaml_error(laughs), "cfg.yaml:2:8: alias *a: aliases are not supported");
    /* An anchor alone is harmless and allowed. */
    gt_config *cfg = yaml("base: &b {lr: 1}\n");
    CHECK(cfg && is_number(cfg, "base.lr", 1));
    gt_config_free(cfg);
}

static void test_malformed_yaml_names_line_and_column(void)
{
    CHECK_CONTAINS(yaml_error("train:\n  lr: 1\n batch: 2\n"), "cfg.yaml:3:2: ");
    CHECK_CONTAINS(yaml_error("train:\n\tlr: 1\n"), "cfg.yaml:2:1: found character that cannot start any token");
    CHECK_CONTAINS(yaml_error("a: 1\na: 2\n"), "cfg.yaml:2:1: duplicate key \"a\"");
    CHECK_CONTAINS(yaml_error("a: 1\n---\nb: 2\n"), "cfg.yaml:2:1: a second YAML document");
    CHECK_CONTAINS(yaml_error("? [x]\n: 1\n"), "a mapping key must be a plain value");
    CHECK_CONTAINS(yaml_error("a: !!binary aGk=\n"), "cfg.yaml:1:4: value does not fit its tag");
    CHECK_CONTAINS(yaml_error("a: !!int abc\n"), "value does not fit its tag tag:yaml.org,2002:int");
    CHECK_CONTAINS(yaml_error("a: \"x\\0y\"\n"), "NUL character");
    CHECK_CONTAINS(yaml_error("a: {b: 1\n"), "cfg.yaml:2:1: ");
    CHECK_CONTAINS(yaml_error("a: \xff\xfe\n"), "cfg.yaml:");
}

static void test_node_count_and_scalar_length_are_bounded(void)
{
    size_t n = 2 * (GT_CONFIG_MAX_NODES + 1) + 16;
    char *text = malloc(n);
    size_t k = (size_t)sprintf(text, "a: [");
    for (unsigned i = 0; i <= GT_CONFIG_MAX_NODES; i++)
        text[k++] = '0', text[k++] = ',';
    text[k - 1] = ']';
    text[k] = '\0';
    CHECK_CONTAINS(yaml_error(text), "more than 100000 values in one file");
    free(text);

    n = GT_CONFIG_MAX_SCALAR + 16;
    text = malloc(n);
    k = (size_t)sprintf(text, "a: ");
    memset(text + k, 'x', GT_CONFIG_MAX_SCALAR + 1);
    text[k + GT_CONFIG_MAX_SCALAR + 1] = '\0';
    CHECK_CONTAINS(yaml_error(text), "a value longer than 1048576 bytes");
    free(text);
}

/* Duplicate keys are found without a quadratic scan: a 50000-key mapping parses
 * quickly and its one repeated key is named with its line. */
static void test_duplicate_keys_in_large_mappings(void)
{
    enum { KEYS = 50000 };
    char *text = malloc(KEYS * 16 + 32);
    size_t k = 0;
    for (int i = 0; i < KEYS; i++)
        k += (size_t)sprintf(text + k, "k%d: %d\n", i, i);
    text[k] = '\0';
    gt_config *cfg = yaml(text);
    CHECK(cfg && is_number(cfg, "k49999", 49999));
    gt_config_free(cfg);
    sprintf(text + k, "k7: 0\n");
    CHECK_CONTAINS(yaml_error(text), "cfg.yaml:50001:1: duplicate key \"k7\"");
    free(text);
    gt_error err = {0};
    const char *dup = "{\"a\": 1, \"b\": {\"c\": 1, \"c\": 2}}";
    CHECK_EQ_INT(gt_config_parse_json(dup, strlen(dup), "dup.json", &cfg, &err), GT_ERR_PARSE);
    CHECK_EQ_STR(err.message, "dup.json: duplicate key \"c\"");
    cfg = yaml("a: 1\n");
    CHECK_EQ_INT(gt_config_set(cfg, "x={n: 1, n: 2}", &err), GT_ERR_PARSE);
    CHECK_EQ_STR(err.message, "--set x={n: 1, n: 2}: duplicate key \"n\"");
    gt_config_free(cfg);
}

static void test_typed_getters_name_file_line_and_key(void)
{
    gt_config *cfg = yaml("train:\n  lr: abc\n  epochs: 2.5\n  batch: 16\n  fused: yes\n  name: 123\n"
                          "  decay: ~\n  warmup: 0.1\n");
    if (!cfg)
        return;
    gt_error err = {0};
    double d;
    long long n;
    int b;
    const char *s;
    CHECK_EQ_INT(gt_config_number(cfg, "train.lr", 5e-4, 0, 1, &d, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "cfg.yaml:2:7: train.lr: expected a number, got \"abc\"");
    CHECK_EQ_INT(gt_config_int(cfg, "train.epochs", 1, 1, 100, &n, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "cfg.yaml:3:11: train.epochs: expected an integer, got 2.5");
    CHECK_EQ_INT(gt_config_int(cfg, "train.batch", 8, 1, 8, &n, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "cfg.yaml:4:10: train.batch: 16 is out of range [1, 8]");
    CHECK_EQ_INT(gt_config_int(cfg, "train.batch", 8, 1, 1024, &n, &err), GT_OK);
    CHECK_EQ_INT(n, 16);
    CHECK_EQ_INT(gt_config_bool(cfg, "train.fused", 0, &b, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "cfg.yaml:5:10: train.fused: expected true or false, got \"yes\"");
    CHECK_EQ_INT(gt_config_string(cfg, "train.name", NULL, &s, &err), GT_ERR_INVALID);
    CHECK_CONTAINS(err.message, "train.name: expected a string, got 123 (quote it to make it a string)");
    /* Missing and null values give the default. */
    CHECK_EQ_INT(gt_config_number(cfg, "train.decay", 0.01, 0, 1, &d, &err), GT_OK);
    CHECK_NEAR(d, 0.01, 0);
    CHECK_EQ_INT(gt_config_number(cfg, "train.missing", 0.5, 0, 1, &d, &err), GT_OK);
    CHECK_NEAR(d, 0.5, 0);
    CHECK_EQ_INT(gt_config_number(cfg, "train.warmup", 0, 0, 1, &d, &err), GT_OK);
    CHECK_NEAR(d, 0.1, 0);
    CHECK_EQ_INT(gt_config_string(cfg, "eval.name", "dflt", &s, &err), GT_OK);
    CHECK_EQ_STR(s, "dflt");
    CHECK_EQ_INT(gt_config_error(cfg, gt_config_get(cfg, "train.warmup"), "train.warmup", &err, GT_ERR_INVALID,
                                 "must be below %d", 0),
                 GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "cfg.yaml:8:11: train.warmup: must be below 0");
    gt_config_free(cfg);
}

static void test_unknown_keys_get_suggestions(void)
{
    gt_config *cfg = yaml("data: {path: x}\ntrian:\n  lrr: 1\n");
    if (!cfg)
        return;
    static const char *const top[] = {"data", "tokenizer", "model", "train", "eval", "system", "knobs", NULL};
    static const char *const train[] = {"epochs", "batch", "lr", "warmup", NULL};
    static const char *const data[] = {"format", "limit", NULL};
    gt_error err = {0};
    CHECK_EQ_INT(gt_config_check_keys(cfg, "", top, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "cfg.yaml:2:1: trian: unknown key (did you mean \"train\"?)");
    CHECK_EQ_INT(gt_config_check_keys(cfg, "trian", train, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "cfg.yaml:3:3: trian.lrr: unknown key (did you mean \"lr\"?)");
    CHECK_EQ_INT(gt_config_check_keys(cfg, "data", data, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "cfg.yaml:1:8: data.path: unknown key (expected one of: format, limit)");
    CHECK_EQ_INT(gt_config_check_keys(cfg, "absent", data, &err), GT_OK);
    CHECK_EQ_INT(gt_config_check_keys(cfg, "data.path", data, &err), GT_ERR_INVALID);
    CHECK_CONTAINS(err.message, "data.path: expected a mapping, got \"x\"");
    gt_config_free(cfg);
}

static void test_set_overrides(void)
{
    gt_config *cfg = yaml("train: {lr: 5.0e-4}\ndata: {split: [0.8, 0.1, 0.1]}\nknobs: {}\n");
    if (!cfg)
        return;
    gt_error err = {0};
    CHECK_EQ_INT(gt_config_set(cfg, "train.lr=1e-3", &err), GT_OK);
    CHECK(is_number(cfg, "train.lr", 1e-3));
    CHECK_EQ_INT(gt_config_set(cfg, "knobs.prune_layers={n: 2, from: top}", &err), GT_OK);
    CHECK(is_number(cfg, "knobs.prune_layers.n", 2));
    CHECK(is_string(cfg, "knobs.prune_layers.from", "top"));
    CHECK_EQ_INT(gt_config_set(cfg, "new.deep.key=\"42\"", &err), GT_OK);
    CHECK(is_string(cfg, "new.deep.key", "42"));
    CHECK_EQ_INT(gt_config_set(cfg, "data.split.1=0.2", &err), GT_OK);
    CHECK(is_number(cfg, "data.split.1", 0.2));
    CHECK_EQ_INT(gt_config_set(cfg, "data.split.3=0.0", &err), GT_OK);
    CHECK_EQ_INT(cJSON_GetArraySize(gt_config_get(cfg, "data.split")), 4);
    CHECK_EQ_INT(gt_config_set(cfg, "data.split.9=1", &err), GT_ERR_INVALID);
    CHECK_CONTAINS(err.message, "--set data.split.9=1: \"9\" is not an index of this list (0 to 4)");
    CHECK_EQ_INT(gt_config_set(cfg, "train.lr.x=1", &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "--set train.lr.x=1: train.lr is 0.001, not a mapping");
    CHECK_EQ_INT(gt_config_set(cfg, "noequals", &err), GT_ERR_INVALID);
    CHECK_CONTAINS(err.message, "expected KEY=VALUE");
    CHECK_EQ_INT(gt_config_set(cfg, "a..b=1", &err), GT_ERR_INVALID);
    CHECK_EQ_INT(gt_config_set(cfg, "knobs.x={n: ", &err), GT_ERR_PARSE);
    CHECK_EQ_STR(err.message, "--set knobs.x={n: : did not find expected node content (while parsing a flow node) "
                              "(character 5)");
    CHECK_EQ_INT(gt_config_set(cfg, "knobs.y=*alias", &err), GT_ERR_PARSE);
    /* A key that is not UTF-8 could not be written into a run's JSON. */
    CHECK_EQ_INT(gt_config_set(cfg, "da\xe1ta.x=1", &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "--set da...: not UTF-8 text (byte 2)");
    CHECK(gt_config_get(cfg, "da\xe1ta") == NULL);
    /* A wrong value from --set is reported against the --set, not the file. */
    CHECK_EQ_INT(gt_config_set(cfg, "train.lr=abc", &err), GT_OK);
    double lr;
    CHECK_EQ_INT(gt_config_number(cfg, "train.lr", 0, 0, 1, &lr, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "--set train.lr=abc: train.lr: expected a number, got \"abc\"");
    CHECK_EQ_INT(gt_config_set(cfg, "train.lr=", &err), GT_OK);
    CHECK_EQ_INT(gt_config_number(cfg, "train.lr", 0.25, 0, 1, &lr, &err), GT_OK);
    CHECK_NEAR(lr, 0.25, 0);
    gt_config_free(cfg);
}

static void test_paths_resolve_against_the_config_file(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_path("exp"));
    mkdir(dir, 0755);
    char file[4200];
    snprintf(file, sizeof file, "%s/pipeline.yaml", dir);
    const char *text = "data: {path: ../data/spam, abs: /srv/x}\n";
    test_write_file(file, text, strlen(text));
    gt_config *cfg = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(gt_config_load(file, &cfg, &err), GT_OK);
    if (!cfg)
        return;
    char *p = NULL, expect[4300];
    CHECK_EQ_INT(gt_config_path(cfg, "data.path", NULL, &p, &err), GT_OK);
    snprintf(expect, sizeof expect, "%s/../data/spam", dir);
    CHECK_EQ_STR(p, expect);
    free(p);
    CHECK_EQ_INT(gt_config_path(cfg, "data.abs", NULL, &p, &err), GT_OK);
    CHECK_EQ_STR(p, "/srv/x");
    free(p);
    CHECK_EQ_INT(gt_config_path(cfg, "data.missing", NULL, &p, &err), GT_OK);
    CHECK(p == NULL);
    /* A path typed on the command line means what it says in the current directory. */
    CHECK_EQ_INT(gt_config_set(cfg, "data.path=local/data", &err), GT_OK);
    CHECK_EQ_INT(gt_config_path(cfg, "data.path", NULL, &p, &err), GT_OK);
    CHECK_EQ_STR(p, "local/data");
    free(p);
    CHECK_EQ_INT(gt_config_check_keys(cfg, "data", (const char *const[]){"path", NULL}, &err), GT_ERR_INVALID);
    char at[4400];
    snprintf(at, sizeof at, "%s:1:28: data.abs: unknown key", file);
    CHECK_CONTAINS(err.message, at);
    gt_config_free(cfg);
}

static void test_json_is_the_same_tree_and_bounded(void)
{
    gt_config *cfg = NULL;
    gt_error err = {0};
    const char *text = "{\"hidden_size\": 768, \"architectures\": [\"BertModel\"], \"x\": {\"y\": null}}";
    CHECK_EQ_INT(gt_config_parse_json(text, strlen(text), "config.json", &cfg, &err), GT_OK);
    if (cfg) {
        CHECK(is_number(cfg, "hidden_size", 768));
        CHECK(is_string(cfg, "architectures.0", "BertModel"));
        const char *s;
        CHECK_EQ_INT(gt_config_string(cfg, "hidden_size", NULL, &s, &err), GT_ERR_INVALID);
        CHECK_EQ_STR(err.message, "config.json: hidden_size: expected a string, got 768 (quote it to make it a string)");
        gt_config_free(cfg);
    }
    const char *broken = "{\n  \"a\": 1,\n  \"b\": }\n";
    CHECK_EQ_INT(gt_config_parse_json(broken, strlen(broken), "config.json", &cfg, &err), GT_ERR_PARSE);
    CHECK_CONTAINS(err.message, "config.json:3:8: not valid JSON");
    CHECK_EQ_INT(gt_config_parse_json("[1]", 3, "config.json", &cfg, &err), GT_ERR_PARSE);
    CHECK_CONTAINS(err.message, "top level must be a mapping");
    CHECK_EQ_INT(gt_config_parse_json("{\"a\": 1} x", 10, "config.json", &cfg, &err), GT_ERR_PARSE);
    CHECK_EQ_INT(gt_config_parse_json("{\"a\":\"\xc3\x28\"}", 10, "bad.json", &cfg, &err), GT_ERR_PARSE);
    CHECK_CONTAINS(err.message, "bad.json:1:7: not UTF-8 text");
    CHECK_EQ_INT(gt_config_parse_json("{\"a\":1}\0{", 9, "nul.json", &cfg, &err), GT_ERR_PARSE);
    CHECK_EQ_STR(err.message, "nul.json:1:8: a NUL byte in JSON text (byte 7)");

    char deep[300];
    int n = snprintf(deep, sizeof deep, "{\"a\":");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    CHECK_EQ_INT(gt_config_parse_json(deep, strlen(deep), "deep.json", &cfg, &err), GT_ERR_PARSE);
    CHECK_CONTAINS(err.message, "deep.json:1:69: nested more than 64 levels deep");
    /* Brackets inside strings are not nesting. */
    const char *quoted = "{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[\"}";
    CHECK_EQ_INT(gt_config_parse_json(quoted, strlen(quoted), "q.json", &cfg, &err), GT_OK);
    gt_config_free(cfg);
}

/* Files over the size bound are refused before parsing (sparse files: no disk used). */
static void test_file_size_bounds(void)
{
    const char *big_json = test_path("big.json"), *big_yaml = test_path("big.yaml");
    test_write_file(big_json, "{", 1);
    test_write_file(big_yaml, "a", 1);
    CHECK(truncate(big_json, (off_t)GT_CONFIG_MAX_JSON_BYTES + 1) == 0);
    CHECK(truncate(big_yaml, (off_t)GT_CONFIG_MAX_YAML_BYTES + 1) == 0);
    gt_config *cfg = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(gt_config_load(big_json, &cfg, &err), GT_ERR_NOMEM);
    CHECK_CONTAINS(err.message, "67108864-byte limit");
    CHECK_EQ_INT(gt_config_load(big_yaml, &cfg, &err), GT_ERR_NOMEM);
    CHECK_CONTAINS(err.message, "16777216-byte limit");
    CHECK(cfg == NULL);
    unlink(big_json);
    unlink(big_yaml);
}

static void test_json_output_is_pretty_and_round_trips(void)
{
    cJSON *tree = cJSON_Parse("{\"stages\": {\"train\": {\"energy_j\": 30.25, \"tags\": [\"a\\tb\", 1]}}, "
                              "\"estimated\": true, \"empty\": {}}");
    const char *path = test_path("out.json");
    gt_error err = {0};
    CHECK_EQ_INT(gt_json_write_file(path, tree, &err), GT_OK);
    char *text = test_read_file(path, NULL);
    CHECK(text && !strchr(text, '\t'));
    CHECK_CONTAINS(text, "{\n  \"stages\": {\n    \"train\": {\n      \"energy_j\": 30.25,");
    CHECK_CONTAINS(text, "\"a\\tb\"");
    CHECK(text && text[strlen(text) - 1] == '\n');
    cJSON *back = text ? cJSON_Parse(text) : NULL;
    CHECK(back && cJSON_Compare(tree, back, 1));
    cJSON_Delete(back);
    cJSON_Delete(tree);
    free(text);
}

/* --set builds nesting one key segment at a time: the tree it leaves must
 * still print as JSON that parses back (a run record embeds it). */
static void test_set_stays_within_the_depth_bound(void)
{
    gt_config *cfg = yaml("train: {lr: 5.0e-4}\n");
    if (!cfg)
        return;
    gt_error err = {0};
    char key[4 * GT_CONFIG_MAX_DEPTH + 16] = "";
    for (int i = 0; i < GT_CONFIG_MAX_DEPTH; i++) /* 64 segments: the scalar sits 64 levels down */
        strcat(key, i ? ".k" : "k");
    char assignment[sizeof key + 8];
    snprintf(assignment, sizeof assignment, "%s=1", key);
    CHECK_EQ_INT(gt_config_set(cfg, assignment, &err), GT_OK);
    char *text = gt_json_print(gt_config_root(cfg));
    cJSON *again = NULL;
    CHECK(text && gt_json_parse(text, strlen(text), "printed", &again, &err) == GT_OK);
    cJSON_Delete(again);
    free(text);
    snprintf(assignment, sizeof assignment, "%s.x=1", key); /* one level more */
    CHECK_EQ_INT(gt_config_set(cfg, assignment, &err), GT_ERR_INVALID);
    CHECK_CONTAINS(err.message, "nested more than 64 levels deep");
    snprintf(assignment, sizeof assignment, "%s={a: 1}", key); /* or a mapping at the bottom */
    CHECK_EQ_INT(gt_config_set(cfg, assignment, &err), GT_ERR_INVALID);
    CHECK(gt_config_get(cfg, "k.k.k.k") != NULL && gt_config_get(cfg, "train.lr") != NULL);
    gt_config_free(cfg);
}

int main(void)
{
    RUN(test_scalars_follow_the_yaml_1_2_core_schema);
    RUN(test_nesting_and_flow_style);
    RUN(test_empty_file_is_an_empty_mapping_and_lists_are_refused);
    RUN(test_depth_bomb);
    RUN(test_alias_bomb_is_refused);
    RUN(test_malformed_yaml_names_line_and_column);
    RUN(test_node_count_and_scalar_length_are_bounded);
    RUN(test_duplicate_keys_in_large_mappings);
    RUN(test_typed_getters_name_file_line_and_key);
    RUN(test_unknown_keys_get_suggestions);
    RUN(test_set_overrides);
    RUN(test_set_stays_within_the_depth_bound);
    RUN(test_paths_resolve_against_the_config_file);
    RUN(test_json_is_the_same_tree_and_bounded);
    RUN(test_file_size_bounds);
    RUN(test_json_output_is_pretty_and_round_trips);
    return test_summary();
}
