/* Knob specs: every form of --knob and of a YAML `knobs:` value becomes a
 * validated knob set, and each mistake gives exactly one clear line. */
#include <stdlib.h>
#include <string.h>

#include "greentune/knobs.h"
#include "knob_test.h"
#include "test_support.h"

/* The spec list must fail with one line containing every expected fragment. */
#define CHECK_FAILS(specs_, ...) check_fails(__LINE__, specs_, (const char *const[]){__VA_ARGS__, NULL})
static void check_fails(int line, const char *const *specs, const char *const *fragments)
{
    gt_knob_set set;
    gt_error err = {0};
    gt_status status = knob_test_set(&set, &err, specs);
    if (status == GT_OK)
        test_fail(__FILE__, line, "expected %s to fail", specs[0]);
    if (strchr(err.message, '\n'))
        test_fail(__FILE__, line, "message is not one line: %s", err.message);
    for (; *fragments; fragments++)
        if (!strstr(err.message, *fragments))
            test_fail(__FILE__, line, "message \"%s\" lacks \"%s\"", err.message, *fragments);
    gt_knob_set_free(&set);
}

static void test_bare_name_enables_knob_with_defaults(void)
{
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_set(&set, &err, SPECS("bf16", "lora", "prune_layers=2")), GT_OK);
    CHECK_EQ_INT(set.count, 3);
    const gt_knob_use *lora = gt_knob_set_find(&set, "lora");
    CHECK(lora != NULL);
    CHECK_EQ_INT(gt_knob_int(lora, "rank"), 8);
    CHECK_NEAR(gt_knob_double(lora, "alpha"), 16.0, 0);
    CHECK(gt_knob_bool(lora, "head"));
    /* The list default is stored as an array of the named targets. */
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(lora->params, "targets");
    CHECK_EQ_INT(cJSON_GetArraySize(targets), 5);
    CHECK_EQ_STR(cJSON_GetArrayItem(targets, 4)->valuestring, "ffn");
    CHECK_EQ_INT(cJSON_GetArraySize(gt_knob_set_find(&set, "bf16")->params), 0);
    gt_knob_set_free(&set);
}

static void test_shorthand_value_fills_the_main_parameter(void)
{
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_set(&set, &err, SPECS("seq_trim=128", "power_cap=100", "optimizer=sgd", "carbon_aware=grid.csv",
                                             "pin_cores=0-1,3")),
                 GT_OK);
    CHECK_EQ_INT(gt_knob_int(gt_knob_set_find(&set, "seq_trim"), "max_len"), 128);
    CHECK_NEAR(gt_knob_double(gt_knob_set_find(&set, "power_cap"), "watts"), 100.0, 0);
    CHECK_EQ_STR(gt_knob_string(gt_knob_set_find(&set, "power_cap"), "device"), "cpu");
    CHECK_EQ_STR(gt_knob_string(gt_knob_set_find(&set, "optimizer"), "kind"), "sgd");
    CHECK_EQ_STR(gt_knob_string(gt_knob_set_find(&set, "carbon_aware"), "forecast"), "grid.csv");
    /* A duration default is stored in seconds: 12h. */
    CHECK_NEAR(gt_knob_double(gt_knob_set_find(&set, "carbon_aware"), "window"), 12 * 3600.0, 0);
    /* At the top level a plain value keeps its commas. */
    CHECK_EQ_STR(gt_knob_string(gt_knob_set_find(&set, "pin_cores"), "cores"), "0-1,3");
    gt_knob_set_free(&set);
}

/* cpu_freq's bare value is a frequency when it is a number, a governor otherwise. */
static void test_cpu_freq_shorthand_picks_parameter_by_type(void)
{
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_set(&set, &err, SPECS("cpu_freq=2000000")), GT_OK);
    CHECK_EQ_INT(gt_knob_int(gt_knob_set_find(&set, "cpu_freq"), "max_khz"), 2000000);
    CHECK(!gt_knob_has(gt_knob_set_find(&set, "cpu_freq"), "governor"));
    gt_knob_set_free(&set);
    CHECK_EQ_INT(knob_test_set(&set, &err, SPECS("cpu_freq=powersave")), GT_OK);
    CHECK_EQ_STR(gt_knob_string(gt_knob_set_find(&set, "cpu_freq"), "governor"), "powersave");
    CHECK(!gt_knob_has(gt_knob_set_find(&set, "cpu_freq"), "max_khz"));
    gt_knob_set_free(&set);
}

static void test_flow_mapping_sets_named_parameters(void)
{
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_set(&set, &err,
                           SPECS("prune_layers={n: 2, from: bottom}", "lora={rank: 4, targets: [q, v], head: false}",
                                 "carbon_aware={forecast: 'my grid.csv', window: 90m, duration: \"1.5h\"}",
                                 "early_stop={patience: 5, metric: f1, min_delta: 1e-3}")),
                 GT_OK);
    const gt_knob_use *prune = gt_knob_set_find(&set, "prune_layers");
    CHECK_EQ_INT(gt_knob_int(prune, "n"), 2);
    CHECK_EQ_STR(gt_knob_string(prune, "from"), "bottom");
    CHECK(!gt_knob_has(prune, "fraction"));
    const gt_knob_use *lora = gt_knob_set_find(&set, "lora");
    CHECK_EQ_INT(gt_knob_int(lora, "rank"), 4);
    CHECK(!gt_knob_bool(lora, "head"));
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(lora->params, "targets");
    CHECK_EQ_INT(cJSON_GetArraySize(targets), 2);
    CHECK_EQ_STR(cJSON_GetArrayItem(targets, 1)->valuestring, "v");
    const gt_knob_use *carbon = gt_knob_set_find(&set, "carbon_aware");
    CHECK_EQ_STR(gt_knob_string(carbon, "forecast"), "my grid.csv");
    CHECK_NEAR(gt_knob_double(carbon, "window"), 5400.0, 0);
    CHECK_NEAR(gt_knob_double(carbon, "duration"), 5400.0, 0);
    CHECK_NEAR(gt_knob_double(gt_knob_set_find(&set, "early_stop"), "min_delta"), 1e-3, 1e-15);
    gt_knob_set_free(&set);
}

/* Quoted JSON is a flow mapping too, and a list may be one comma-separated string. */
static void test_json_style_and_string_lists_are_accepted(void)
{
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_set(&set, &err, SPECS("prune_layers={\"fraction\":0.25,\"from\":\"top\"}",
                                             "lora={targets: \"q, k,ffn\"}")),
                 GT_OK);
    CHECK_NEAR(gt_knob_double(gt_knob_set_find(&set, "prune_layers"), "fraction"), 0.25, 0);
    const cJSON *targets = cJSON_GetObjectItemCaseSensitive(gt_knob_set_find(&set, "lora")->params, "targets");
    CHECK_EQ_INT(cJSON_GetArraySize(targets), 3);
    CHECK_EQ_STR(cJSON_GetArrayItem(targets, 1)->valuestring, "k");
    gt_knob_set_free(&set);
}

/* The YAML loader hands over a cJSON mapping: knobs: {seq_trim: 128, prune_layers: {n: 2, from: top}, fused: true}. */
static void test_yaml_knobs_mapping_builds_the_same_set(void)
{
    cJSON *knobs = cJSON_Parse("{\"seq_trim\": 128, \"prune_layers\": {\"n\": 2, \"from\": \"top\"},"
                               " \"fused\": true, \"bf16\": false, \"grad_accum\": \"8\"}");
    gt_knob_set set;
    gt_error err = {0};
    gt_knob_set_init(&set);
    CHECK_EQ_INT(gt_knob_set_add_object(&set, knobs, &err), GT_OK);
    /* bf16: false turns the knob off; the other four are in. */
    CHECK_EQ_INT(set.count, 4);
    CHECK(gt_knob_set_find(&set, "bf16") == NULL);
    CHECK_EQ_INT(gt_knob_int(gt_knob_set_find(&set, "seq_trim"), "max_len"), 128);
    CHECK_EQ_STR(gt_knob_string(gt_knob_set_find(&set, "prune_layers"), "from"), "top");
    /* A loader that keeps scalars as strings still gives typed parameters. */
    CHECK_EQ_INT(gt_knob_int(gt_knob_set_find(&set, "grad_accum"), "steps"), 8);
    cJSON *json = gt_knob_set_to_json(&set);
    char *text = cJSON_PrintUnformatted(json);
    CHECK(strstr(text, "{\"name\":\"seq_trim\",\"params\":{\"max_len\":128},\"evidence\":{}}") != NULL);
    cJSON_free(text);
    cJSON_Delete(json);
    cJSON_Delete(knobs);
    gt_knob_set_free(&set);
}

static void test_unknown_knob_suggests_the_nearest_name(void)
{
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_set(&set, &err, SPECS("seq_trimm=128")), GT_ERR_NOT_FOUND);
    CHECK_EQ_STR(err.message, "knob \"seq_trimm\" is unknown (did you mean \"seq_trim\"?)");
    gt_knob_set_free(&set);
    CHECK_FAILS(SPECS("pruen_layers"), "knob \"pruen_layers\" is unknown", "did you mean \"prune_layers\"?");
    CHECK_FAILS(SPECS("fp16"), "knob \"fp16\" is unknown", "did you mean \"bf16\"?");
    CHECK_FAILS(SPECS("turbo_mode"), "knob \"turbo_mode\" is unknown (see 'greentune knobs'");
    CHECK_FAILS(SPECS("=3"), "no knob name");
}

static void test_unknown_parameter_names_the_knob_and_suggests(void)
{
    CHECK_FAILS(SPECS("prune_layers={n: 2, form: top}"), "knob \"prune_layers\"", "\"form\" is not a parameter",
                "did you mean \"from\"?");
    CHECK_FAILS(SPECS("lora={zzz: 1}"), "knob \"lora\"", "\"zzz\" is not a parameter", "rank, alpha, targets");
    CHECK_FAILS(SPECS("bf16={scale: 2}"), "knob \"bf16\" takes no parameters");
    CHECK_FAILS(SPECS("fused=3"), "knob \"fused\" takes no value");
    CHECK_FAILS(SPECS("dynamic_batch=4"), "knob \"dynamic_batch\" takes named parameters", "dynamic_batch={start: ...}");
}

static void test_wrong_type_is_one_line(void)
{
    CHECK_FAILS(SPECS("seq_trim=abc"), "knob \"seq_trim\": max_len must be an integer, got \"abc\"");
    CHECK_FAILS(SPECS("seq_trim=12.5"), "max_len must be an integer, got 12.5");
    CHECK_FAILS(SPECS("lora={alpha: many}"), "knob \"lora\": alpha must be a number");
    CHECK_FAILS(SPECS("lora={head: 3}"), "head must be true or false, got 3");
    CHECK_FAILS(SPECS("prune_layers={n: 2, from: middle}"), "from \"middle\" is not one of top, bottom");
    CHECK_FAILS(SPECS("attention=flsh"), "impl \"flsh\" is not one of naive, fused, flash", "did you mean \"flash\"?");
    CHECK_FAILS(SPECS("lora={targets: [q, query]}"), "targets \"query\" is not one of q, k, v, o, ffn");
    CHECK_FAILS(SPECS("lora={targets: [q, q]}"), "targets names \"q\" twice");
    CHECK_FAILS(SPECS("lora={targets: []}"), "targets is empty");
    CHECK_FAILS(SPECS("carbon_aware={forecast: f.csv, window: soon}"), "window must be a duration", "got soon");
    CHECK_FAILS(SPECS("pin_cores=3-1"), "cores \"3-1\" is not \"compact\" or a core list");
    CHECK_FAILS(SPECS("cpu_freq=Turbo!"), "\"Turbo!\" is not a cpufreq governor name");
    /* A newline inside a quoted value stays visible and the message one line. */
    CHECK_FAILS(SPECS("lora={rank: \"a\\nb\"}"), "rank must be an integer, got \"a\\nb\"");
}

static void test_out_of_range_gives_the_range(void)
{
    CHECK_FAILS(SPECS("seq_trim=4"), "knob \"seq_trim\": max_len 4 is out of range [8, 65536]");
    CHECK_FAILS(SPECS("power_cap=2"), "knob \"power_cap\": watts 2 is out of range [5, 5000]");
    CHECK_FAILS(SPECS("subsample=1.5"), "fraction 1.5 is out of range [0.01, 0.99]");
    CHECK_FAILS(SPECS("grad_accum=1"), "steps 1 is out of range [2, 1024]");
    CHECK_FAILS(SPECS("carbon_aware={forecast: f.csv, window: 8d}"), "window 691200 is out of range [0, 604800]");
    CHECK_FAILS(SPECS("threads=0"), "n 0 is out of range [1, 4096]");
}

static void test_missing_and_cross_parameter_rules(void)
{
    CHECK_FAILS(SPECS("power_cap"), "knob \"power_cap\": watts is required", "power_cap=VALUE");
    CHECK_FAILS(SPECS("threads"), "knob \"threads\": n is required");
    CHECK_FAILS(SPECS("prune_layers"), "give n (layers) or fraction");
    CHECK_FAILS(SPECS("prune_layers={n: 2, fraction: 0.5}"), "not both");
    CHECK_FAILS(SPECS("cpu_freq"), "give a governor or max_khz");
    CHECK_FAILS(SPECS("dynamic_batch={start: 64, max: 32}"), "start (64) must be below max (32)");
    CHECK_FAILS(SPECS("seq_trim="), "nothing after '='");
}

static void test_duplicate_knob_is_refused(void)
{
    CHECK_FAILS(SPECS("seq_trim=64", "seq_trim=128"), "knob \"seq_trim\" is given twice", "{\"max_len\":64}",
                "{\"max_len\":128}", "keep one");
    CHECK_FAILS(SPECS("bf16", "bf16"), "knob \"bf16\" is given twice");
}

static void test_conflicting_knobs_are_refused_in_either_order(void)
{
    CHECK_FAILS(SPECS("attention=flash", "fused"), "knobs \"attention\" and \"fused\" conflict",
                "both choose the attention kernel");
    CHECK_FAILS(SPECS("fused", "attention"), "knobs \"attention\" and \"fused\" conflict");
    CHECK_FAILS(SPECS("distill", "lora"), "knobs \"lora\" and \"distill\" conflict");
    CHECK_FAILS(SPECS("grad_accum=4", "dynamic_batch"), "knobs \"dynamic_batch\" and \"grad_accum\" conflict");
    /* Conditional conflicts name the condition that made them. */
    CHECK_FAILS(SPECS("int8", "infer_engine=bf16"), "knobs \"int8\" and \"infer_engine\" (precision=fp32|bf16) conflict");
    CHECK_FAILS(SPECS("prune_layers=4", "distill={layers: 6}"),
                "knobs \"distill\" (layers!=0) and \"prune_layers\" conflict");
}

/* The same pairs without the conflicting values are fine: the paper's bundles
 * V23-V29 all build. */
static void test_compatible_combinations_build(void)
{
    static const char *const bundles[][6] = {
        {"attention", "prefetch", "optimizer", "grad_accum", NULL},  /* V23 */
        {"infer_engine", "grad_ckpt", "lora", "bf16", NULL},         /* V24 */
        {"grad_accum", "bf16", "grad_ckpt", NULL},                   /* V25 */
        {"prune_layers={n: 12, from: bottom}", "seq_trim", "fused", NULL}, /* V26 */
        {"fused", "bf16", NULL},                                     /* V27 */
        {"prune_layers=12", "fused", "bf16", NULL},                  /* V28 */
        {"int8", "lora", "infer_engine", "bf16", NULL},              /* QLoRA-style */
        {"prune_layers=4", "distill", NULL},                         /* student = the pruned model */
    };
    for (size_t i = 0; i < sizeof bundles / sizeof bundles[0]; i++) {
        gt_knob_set set;
        gt_error err = {0};
        gt_status status = knob_test_set(&set, &err, bundles[i]);
        CHECK_MSG(status == GT_OK, "bundle %zu: %s", i, err.message);
        gt_knob_set_free(&set);
    }
}

static void test_malformed_flow_values_are_one_line(void)
{
    CHECK_FAILS(SPECS("prune_layers={n: 2, from: top"), "knob \"prune_layers\"", "expected ',' or '}'", "column");
    CHECK_FAILS(SPECS("prune_layers={n 2}"), "expected ':' after a key");
    CHECK_FAILS(SPECS("prune_layers={n: 2, n: 3}"), "a key is given twice");
    CHECK_FAILS(SPECS("carbon_aware={forecast: 'f.csv}"), "missing closing");
    CHECK_FAILS(SPECS("lora={rank: 4} extra"), "unexpected text after the value");
    CHECK_FAILS(SPECS("lora={a: {b: {c: {d: {e: {f: {g: {h: {i: 1}}}}}}}}}"), "nested too deeply");
    /* Bounded: a huge spec is refused, not parsed. */
    size_t n = 10000;
    char *big = malloc(n + 32);
    memcpy(big, "lora={rank: ", 12);
    memset(big + 12, '1', n);
    strcpy(big + 12 + n, "}");
    CHECK_FAILS(SPECS(big), "longer than 4096 characters");
    free(big);
}

/* A knob whose effect is not built (the registry's own knobs all get theirs in time). */
static const gt_knob_def pending_def = {
    .name = "pending_knob",
    .phases = GT_PHASE_DATA,
    .stages = GT_STAGE_DATA,
    .summary = "a knob without its effect",
    .evidence = (const char *const[]){"done", NULL},
    .effect = GT_KNOB_PENDING,
};

static void test_pending_effects_refuse_to_run_and_evidence_is_required(void)
{
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_set(&set, &err, SPECS("threads=1")), GT_OK);
    set.items[set.count++] = (gt_knob_use){&pending_def, cJSON_CreateObject(), cJSON_CreateObject(), NULL};
    CHECK_EQ_INT(gt_knob_set_check_available(&set, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "knob \"pending_knob\": its effect is not built yet") != NULL);
    CHECK_EQ_INT(gt_knob_set_check_evidence(&set, &err), GT_ERR_INTERNAL);
    CHECK(strstr(err.message, "knob \"threads\": evidence \"threads_used\" was not recorded") != NULL);
    gt_knob_set_free(&set);
}

static void test_dry_run_describes_each_knob(void)
{
    gt_knob_set set;
    gt_error err = {0};
    CHECK_EQ_INT(knob_test_set(&set, &err, SPECS("seq_trim=64", "prune_layers={n: 2, from: bottom}")), GT_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK_EQ_INT(gt_knob_set_describe(&set, NULL, out, &err), GT_OK);
    fclose(out);
    CHECK(strstr(text, "seq_trim [data, data volume]: truncate every sequence to max_len tokens") != NULL);
    CHECK(strstr(text, "params: max_len=64") != NULL);
    CHECK(strstr(text, "params: n=2, from=bottom") != NULL);
    CHECK(strstr(text, "changes: load/train/save/eval") != NULL);
    CHECK(strstr(text, "records: layers_before, layers_after, removed_layers") != NULL);
    /* each knob's plan hook says what it would do (no context: the generic line) */
    CHECK(strstr(text, "would: keep at most 64 tokens per sample") != NULL);
    CHECK(strstr(text, "not built yet") == NULL);
    free(text);
    gt_knob_set_free(&set);
}

/* Random specs built from the syntax's own characters never crash (the ASan
 * build runs this too) and every failure is one line. */
static void test_random_specs_fail_cleanly(void)
{
    static const char *const heads[] = {"lora=", "prune_layers=", "carbon_aware=", "cpu_freq=", "seq_trim=", "x="};
    static const char alphabet[] = "{}[],:'\" \\=abnr0123456789.-_eqvtk";
    unsigned state = 12345;
    char spec[96];
    int lines_bad = 0;
    for (int i = 0; i < 20000; i++) {
        state = state * 1103515245u + 12345u;
        size_t n = strlen(heads[(state >> 16) % 6]);
        memcpy(spec, heads[(state >> 16) % 6], n);
        size_t len = n + (state >> 8) % 40;
        for (size_t j = n; j < len; j++) {
            state = state * 1103515245u + 12345u;
            spec[j] = alphabet[(state >> 16) % (sizeof alphabet - 1)];
        }
        spec[len] = '\0';
        gt_knob_set set;
        gt_error err = {0};
        if (knob_test_set(&set, &err, SPECS(spec)) != GT_OK && (strchr(err.message, '\n') || !err.message[0]))
            lines_bad++;
        gt_knob_set_free(&set);
    }
    CHECK_EQ_INT(lines_bad, 0);
}

int main(void)
{
    RUN(test_bare_name_enables_knob_with_defaults);
    RUN(test_shorthand_value_fills_the_main_parameter);
    RUN(test_cpu_freq_shorthand_picks_parameter_by_type);
    RUN(test_flow_mapping_sets_named_parameters);
    RUN(test_json_style_and_string_lists_are_accepted);
    RUN(test_yaml_knobs_mapping_builds_the_same_set);
    RUN(test_unknown_knob_suggests_the_nearest_name);
    RUN(test_unknown_parameter_names_the_knob_and_suggests);
    RUN(test_wrong_type_is_one_line);
    RUN(test_out_of_range_gives_the_range);
    RUN(test_missing_and_cross_parameter_rules);
    RUN(test_duplicate_knob_is_refused);
    RUN(test_conflicting_knobs_are_refused_in_either_order);
    RUN(test_compatible_combinations_build);
    RUN(test_malformed_flow_values_are_one_line);
    RUN(test_pending_effects_refuse_to_run_and_evidence_is_required);
    RUN(test_dry_run_describes_each_knob);
    RUN(test_random_specs_fail_cleanly);
    return test_summary();
}
