/* The pipeline file: defaults, --set overrides, paths relative to the file, and
 * one line naming the file, line and key for every mistake. */
#include <stdlib.h>
#include <string.h>

#include "greentune/pipeline.h"
#include "test_support.h"

/* Writes text as tmpdir/sub/pipeline.yaml and loads it with the given --set assignments. */
static gt_status load(const char *text, const char *const *sets, size_t n_sets, gt_pipeline_spec *spec,
                      gt_error *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sub", test_tmpdir());
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
    const char *path = test_path("sub/pipeline.yaml");
    test_write_file(path, text, strlen(text));
    memset(err, 0, sizeof *err);
    return gt_pipeline_spec_load(path, sets, n_sets, spec, err);
}

/* The expected line must appear in the message. */
static void expect_error(const char *text, const char *const *sets, size_t n_sets, const char *words)
{
    gt_pipeline_spec spec;
    gt_error err;
    gt_status st = load(text, sets, n_sets, &spec, &err);
    CHECK_MSG(st != GT_OK, "accepted: %s", text);
    CHECK_MSG(strstr(err.message, words) != NULL, "message \"%s\" lacks \"%s\"", err.message, words);
    CHECK_MSG(strchr(err.message, '\n') == NULL, "more than one line: %s", err.message);
    if (st == GT_OK)
        gt_pipeline_spec_free(&spec);
}

static void test_defaults_are_design_md(void)
{
    gt_pipeline_spec spec;
    gt_error err;
    CHECK_EQ_INT(load("data: {path: ../data/spamassassin}\n", NULL, 0, &spec, &err), GT_OK);
    CHECK_EQ_INT(spec.data.format, GT_DATA_SPAMASSASSIN);
    CHECK_NEAR(spec.split[0], 0.8, 0);
    CHECK_NEAR(spec.split[2], 0.1, 0);
    CHECK_EQ_INT(spec.wordpiece.vocab_size, 8192);
    CHECK_EQ_STR(spec.arch, "bert");
    CHECK_EQ_INT(spec.layers, 4);
    CHECK_EQ_INT(spec.dim, 256);
    CHECK_EQ_INT(spec.ffn, 1024);
    CHECK_EQ_INT(spec.max_len, 256);
    CHECK_EQ_INT(spec.epochs, 1);
    CHECK_EQ_INT(spec.batch, 16);
    CHECK_NEAR(spec.lr, 5e-4, 0);
    CHECK_NEAR(spec.warmup, 0.1, 0);
    CHECK_NEAR(spec.clip, 1.0, 0);
    CHECK_EQ_STR(spec.optimizer, "adamw");
    CHECK_EQ_STR(spec.schedule, "linear");
    CHECK_EQ_INT(spec.eval_batch, 64);
    CHECK_EQ_STR(spec.meter, "auto");
    CHECK(spec.dropout < 0);
    CHECK(spec.knobs == NULL);
    /* Relative to the file's directory (tmpdir/sub), not to the current one. */
    char want[4096];
    snprintf(want, sizeof want, "%s/sub/../data/spamassassin", test_tmpdir());
    CHECK_EQ_STR(spec.data_path, want);
    gt_pipeline_spec_free(&spec);
}

static void test_set_overrides_the_file(void)
{
    const char *sets[] = {"train.lr=1e-3", "model.layers=2", "data.split=[0.5, 0.25, 0.25]", "knobs.seq_trim=64"};
    gt_pipeline_spec spec;
    gt_error err;
    CHECK_EQ_INT(load("data: {path: d, format: jsonl, labels: {ham: 0, spam: 1}}\ntrain: {lr: 5.0e-4}\n", sets, 4,
                      &spec, &err), GT_OK);
    CHECK_NEAR(spec.lr, 1e-3, 0);
    CHECK_EQ_INT(spec.layers, 2);
    CHECK_NEAR(spec.split[1], 0.25, 0);
    CHECK_EQ_INT(spec.n_labels, 2);
    CHECK_EQ_STR(spec.data.label_names[1].name, "spam");
    CHECK_EQ_INT(spec.data.label_names[1].label, 1);
    gt_knob_set set;
    gt_knob_set_init(&set);
    const char *extra[] = {"dynamic_padding"};
    CHECK_EQ_INT(gt_pipeline_spec_knobs(&spec, extra, 1, &set, &err), GT_OK);
    CHECK_EQ_INT(set.count, 2);
    CHECK_EQ_INT(gt_knob_int(gt_knob_set_find(&set, "seq_trim"), "max_len"), 64);
    gt_knob_set_free(&set);
    gt_pipeline_spec_free(&spec);
}

static void test_mistakes_are_one_line_each(void)
{
    expect_error("data: {path: d}\ntrian: {epochs: 1}\n", NULL, 0, "pipeline.yaml:2:1: trian: unknown key (did you mean \"train\"?)");
    expect_error("data: {path: d, limt: 5}\n", NULL, 0, "data.limt: unknown key (did you mean \"limit\"?)");
    expect_error("model: {layers: 2}\n", NULL, 0, "data.path: missing");
    expect_error("data: {path: d}\ntrain: {lr: fast}\n", NULL, 0, "pipeline.yaml:2:13: train.lr: expected a number");
    expect_error("data: {path: d, split: [0.8, 0.1, 0.2]}\n", NULL, 0, "add up to 1.1, not 1");
    expect_error("data: {path: d, split: [0.8, 0.2]}\n", NULL, 0, "expected three shares");
    expect_error("data: {path: d, format: parquet}\n", NULL, 0, "\"parquet\" is not one of: spamassassin");
    expect_error("data: {path: d}\nmodel: {dim: 100, heads: 3}\n", NULL, 0, "3 heads do not divide dim 100");
    expect_error("data: {path: d}\nmodel: {from: hf-dir, layers: 2}\n", NULL, 0,
                 "model.layers: the model directory's config.json decides it");
    expect_error("data: {path: d}\ntokenizer: {path: t.json, vocab_size: 100}\n", NULL, 0,
                 "tokenizer.vocab_size: is for training a tokenizer");
    expect_error("data: {path: d, labels: {ham: zero}}\n", NULL, 0, "data.labels.ham: expected a class number");
    expect_error("data: {path: d}\nsystem: {meter: joulemeter}\n", NULL, 0, "system.meter");
    expect_error("data: {path: d}\ntrain: {optimizer: adam}\n", NULL, 0,
                 "\"adam\" is not one of: adamw, adamw8bit, sgd, adafactor");
    expect_error("data: {path: d}\nknobs: [seq_trim]\n", NULL, 0, "knobs: expected a mapping");
    const char *bad_set[] = {"train.epochs=-1"};
    expect_error("data: {path: d}\n", bad_set, 1, "--set train.epochs=-1");
    expect_error("data: {path: d\n", NULL, 0, "pipeline.yaml:");
}

/* A knob in the file is named with its line; one from --knob by its spec. */
static void test_unknown_knob_names_where(void)
{
    gt_pipeline_spec spec;
    gt_error err;
    CHECK_EQ_INT(load("data: {path: d}\nknobs:\n  seq_trm: 64\n", NULL, 0, &spec, &err), GT_OK);
    gt_knob_set set;
    gt_knob_set_init(&set);
    CHECK(gt_pipeline_spec_knobs(&spec, NULL, 0, &set, &err) != GT_OK);
    CHECK_MSG(strstr(err.message, "pipeline.yaml:3:") && strstr(err.message, "did you mean \"seq_trim\""), "%s",
              err.message);
    gt_knob_set_free(&set);
    gt_knob_set_init(&set);
    const char *specs[] = {"prune_layer=2"};
    spec.knobs = NULL;
    CHECK(gt_pipeline_spec_knobs(&spec, specs, 1, &set, &err) != GT_OK);
    CHECK_MSG(strstr(err.message, "\"prune_layer\" is unknown (did you mean \"prune_layers\"?)"), "%s", err.message);
    gt_knob_set_free(&set);
    gt_pipeline_spec_free(&spec);
}

int main(void)
{
    RUN(test_defaults_are_design_md);
    RUN(test_set_overrides_the_file);
    RUN(test_mistakes_are_one_line_each);
    RUN(test_unknown_knob_names_where);
    return test_summary();
}
