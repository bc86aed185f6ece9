/* The knob hook interface (src/pipeline/stage_hooks.h): a knob's stage hooks
 * run at their points, in stage order, and what they change takes effect — a
 * data hook's filtered training set, a tokenize hook's max_len, a configure
 * hook's layer count, an epoch hook's early stop — and their evidence lands in
 * the run record. A failing hook fails the run with its message, restores the
 * machine-state knobs (threads) and leaves no checkpoint. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "knobs/knob_internal.h"
#include "pipeline/stage_hooks.h"
#include "test_support.h"

static gt_hook_point seen[64];
static int n_seen;
static int fail_at = -1;

static gt_status note(gt_hook_point point, gt_error *err)
{
    if (n_seen < 64)
        seen[n_seen++] = point;
    if ((int)point == fail_at)
        return gt_error_set(err, GT_ERR_INVALID, "knob \"fake\": refused at hook %d", (int)point);
    return GT_OK;
}

static int keep_even(size_t index, void *ctx)
{
    (void)ctx;
    return index % 2 == 0;
}

static gt_status on_data(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    size_t removed = gt_index_set_filter(&p->split.train, keep_even, NULL);
    knob_evidence_number(use, "samples_removed", (double)removed);
    return note(GT_HOOK_DATA, err);
}

static gt_status on_tokenize(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    p->encode.max_len = 6;
    return note(GT_HOOK_TOKENIZE, err);
}

static gt_status on_tokenized(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    gt_length_stats s;
    gt_encoded_lengths(&p->train.enc, &s);
    knob_evidence_number(use, "max_tokens_after", (double)s.max_after);
    return note(GT_HOOK_TOKENIZED, err);
}

static gt_status on_configure(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    p->model_config.layers = 1;
    return note(GT_HOOK_CONFIGURE, err);
}

static gt_status on_epoch(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err)
{
    p->stop_training = p->epoch == 2;
    return note(GT_HOOK_EPOCH, err);
}

#define NOTE_ONLY(name, point) \
    static gt_status name(gt_knob_use *use, gt_pipeline_ctx *p, gt_error *err) { return note(point, err); }
NOTE_ONLY(on_load, GT_HOOK_LOAD)
NOTE_ONLY(on_train, GT_HOOK_TRAIN)
NOTE_ONLY(on_save, GT_HOOK_SAVE)
NOTE_ONLY(on_eval, GT_HOOK_EVAL)
NOTE_ONLY(on_finish, GT_HOOK_FINISH)

static const gt_stage_hooks fake_stage = {.at = {
    [GT_HOOK_DATA] = on_data,       [GT_HOOK_TOKENIZE] = on_tokenize, [GT_HOOK_TOKENIZED] = on_tokenized,
    [GT_HOOK_CONFIGURE] = on_configure, [GT_HOOK_LOAD] = on_load,  [GT_HOOK_TRAIN] = on_train,
    [GT_HOOK_EPOCH] = on_epoch,     [GT_HOOK_SAVE] = on_save,         [GT_HOOK_EVAL] = on_eval,
    [GT_HOOK_FINISH] = on_finish}};
static const struct gt_knob_hooks fake_hooks = {.stage = &fake_stage};
static const gt_knob_def fake_def = {
    .name = "fake",
    .phases = GT_PHASE_DATA,
    .stages = GT_STAGE_ALL,
    .summary = "a test knob",
    .evidence = (const char *const[]){"samples_removed", "max_tokens_after", NULL},
    .effect = GT_KNOB_PIPELINE,
    .hooks = &fake_hooks,
};

static const char *pipeline_file(void)
{
    const char *path = test_path("pipeline.yaml");
    char data[8192];
    size_t used = 0;
    static const char *const words[2][4] = {{"energy", "stage", "data", "code"}, {"free", "money", "click", "win"}};
    for (int i = 0; i < 48; i++)
        used += (size_t)snprintf(data + used, sizeof data - used, "{\"text\": \"%s %s the and %d\", \"label\": %d}\n",
                                 words[i % 2][i % 4], words[i % 2][(i / 4) % 4], i, i % 2);
    test_write_file(test_path("data.jsonl"), data, used);
    static const char yaml[] =
        "data: {format: jsonl, path: data.jsonl, split: [0.5, 0.25, 0.25]}\n"
        "tokenizer: {vocab_size: 80, min_frequency: 1}\n"
        "model: {layers: 2, dim: 16, heads: 2, ffn: 32, max_len: 16}\n"
        "train: {epochs: 5, batch: 4, lr: 1.0e-3}\n"
        "system: {threads: 1, meter: estimate}\n";
    test_write_file(path, yaml, sizeof yaml - 1);
    return path;
}

/* The fake knob first, then threads=1 (a machine knob). */
static void knob_set(gt_knob_set *set)
{
    gt_knob_set_init(set);
    set->items[0] = (gt_knob_use){&fake_def, cJSON_CreateObject(), cJSON_CreateObject(), NULL};
    set->count = 1;
    gt_error err = {0};
    CHECK_EQ_INT(gt_knob_set_add_spec(set, "threads=1", &err), GT_OK);
}

static const cJSON *get(const cJSON *o, const char *a, const char *b)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
}

/* Runs the tiny pipeline with the fake knob (failing at fail_point, or -1)
 * and threads=1, from an OpenMP team of 2. */
static gt_status run_with_fake(int fail_point, const char *out_dir, cJSON **record, gt_error *err)
{
    gt_pipeline_spec spec;
    CHECK_EQ_INT(gt_pipeline_spec_load(pipeline_file(), NULL, 0, &spec, err), GT_OK);
    gt_knob_set set;
    knob_set(&set);
    gt_run_options o;
    gt_run_options_init(&o);
    o.out_dir = out_dir;
    n_seen = 0;
    fail_at = fail_point;
    omp_set_num_threads(2);
    gt_status st = gt_pipeline_run(&spec, &set, &o, record, err);
    gt_knob_set_free(&set);
    gt_pipeline_spec_free(&spec);
    return st;
}

static void test_hooks_change_the_stages(void)
{
    cJSON *record = NULL;
    gt_error err = {0};
    gt_status st = run_with_fake(-1, NULL, &record, &err);
    CHECK_MSG(st == GT_OK, "%s", err.message);
    CHECK_EQ_INT(omp_get_max_threads(), 2); /* the threads knob is restored */
    static const gt_hook_point want[] = {GT_HOOK_DATA, GT_HOOK_TOKENIZE, GT_HOOK_TOKENIZED, GT_HOOK_CONFIGURE,
                                         GT_HOOK_LOAD, GT_HOOK_TRAIN, GT_HOOK_EPOCH, GT_HOOK_EPOCH,
                                         GT_HOOK_SAVE, GT_HOOK_EVAL, GT_HOOK_FINISH};
    CHECK_EQ_INT(n_seen, sizeof want / sizeof want[0]);
    for (int i = 0; i < n_seen && i < (int)(sizeof want / sizeof want[0]); i++)
        CHECK_EQ_INT(seen[i], want[i]);
    if (!record)
        return;
    /* 24 training samples, the odd-numbered half filtered out. */
    const cJSON *train = get(get(record, "data", "split"), "train", "samples");
    CHECK_EQ_INT(train ? train->valuedouble : -1, 12);
    CHECK_EQ_INT(get(record, "tokenize", "max_len")->valuedouble, 6);
    CHECK_EQ_INT(get(record, "model", "layers")->valuedouble, 1);
    CHECK_EQ_INT(cJSON_GetArraySize(get(record, "train", "epochs")), 2); /* stopped early */
    const cJSON *knobs = cJSON_GetObjectItemCaseSensitive(record, "knobs");
    CHECK_EQ_INT(cJSON_GetArraySize(knobs), 2);
    const cJSON *evidence = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(knobs, 0), "evidence");
    const cJSON *removed = cJSON_GetObjectItemCaseSensitive(evidence, "samples_removed");
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(evidence, "max_tokens_after");
    CHECK(removed && removed->valuedouble == 12);
    CHECK(tokens && tokens->valuedouble == 6);
    const cJSON *threads = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(knobs, 1), "evidence");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(threads, "threads_used")));
    CHECK_EQ_INT(get(record, "machine", "threads")->valuedouble, 1);
    cJSON_Delete(record);
}

/* A hook that fails before the checkpoint is written: the run fails with its
 * line, threads come back, and --out is not created. */
static void test_failing_hook_restores_and_saves_nothing(void)
{
    cJSON *record = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(run_with_fake(GT_HOOK_SAVE, test_path("out"), &record, &err), GT_ERR_INVALID);
    CHECK_EQ_STR(err.message, "knob \"fake\": refused at hook 7");
    CHECK(record == NULL);
    CHECK_EQ_INT(omp_get_max_threads(), 2);
    struct stat st;
    CHECK(stat(test_path("out"), &st) != 0);
}

int main(void)
{
    RUN(test_hooks_change_the_stages);
    RUN(test_failing_hook_restores_and_saves_nothing);
    return test_summary();
}
