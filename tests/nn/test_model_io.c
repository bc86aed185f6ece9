/* Model weights in safetensors files by Hugging Face names: save and load
 * round trips, the checked-in HF fixtures (tests/fixtures/hf, written by
 * tests/io/make_hf_fixtures.py with torch), and one clear error for a wrong
 * shape or a missing tensor. */
#include <string.h>

#include "greentune/config.h"
#include "greentune/hf.h"
#include "greentune/safetensors.h"
#include "model_test_util.h"

/* The names and shapes a saved bert has: HF's, with query/key/value split. */
static void test_model_io_save_uses_hf_names(void)
{
    gt_nn_config c = tiny_config(GT_NN_BERT);
    gt_nn_model *m = tiny_model(&c, 1);
    gt_error err = {0};
    const char *path = test_path("bert.safetensors");
    CHECK_MSG(gt_nn_model_save(m, path, &err) == GT_OK, "%s", err.message);
    gt_safetensors *st;
    CHECK_MSG(gt_safetensors_open(path, &st, &err) == GT_OK, "%s", err.message);
    /* 3 embeddings + LN (2) + 2 layers x 16 + pooler (2) + classifier (2) */
    CHECK_EQ_INT(gt_safetensors_count(st), 3 + 2 + 2 * 16 + 2 + 2);
    const char *names[] = {"bert.encoder.layer.1.attention.self.query.weight",
                           "bert.encoder.layer.1.attention.self.key.bias",
                           "bert.encoder.layer.0.attention.self.value.weight", "bert.pooler.dense.bias",
                           "classifier.weight", "bert.embeddings.token_type_embeddings.weight"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK_MSG(gt_safetensors_find(st, names[i]) != NULL, "%s missing", names[i]);
    CHECK(gt_safetensors_find(st, "bert.encoder.layer.0.attention.self.qkv.weight") == NULL);
    const gt_tensor_info *q = gt_safetensors_find(st, "bert.encoder.layer.1.attention.self.query.weight");
    CHECK(q && q->rank == 2 && q->shape[0] == 8 && q->shape[1] == 8 && q->dtype == GT_DTYPE_F32);
    const gt_tensor_info *v = gt_safetensors_find(st, "bert.encoder.layer.0.attention.self.value.weight");
    /* value is rows [2C, 3C) of the packed block */
    int qkv = params_find(&m->params, "bert.encoder.layer.0.attention.self.qkv.weight");
    CHECK(v && qkv >= 0 && !memcmp(v->data, params_data(&m->params, qkv) + 2 * 8 * 8, 64 * sizeof(float)));
    CHECK_EQ_STR(gt_safetensors_metadata(st, "format"), "pt");
    gt_safetensors_close(st);
    gt_nn_model_free(m);
}

/* save, then load into a model with other weights: every value comes back. */
static void test_model_io_round_trip(void)
{
    for (int arch = 0; arch < 2; arch++) {
        gt_nn_config c = tiny_config((gt_nn_arch)arch);
        gt_nn_model *a = tiny_model(&c, 1), *b = tiny_model(&c, 2);
        randomize_weights(a, 5);
        gt_error err = {0};
        const char *path = test_path("round.safetensors");
        CHECK_MSG(gt_nn_model_save(a, path, &err) == GT_OK, "%s", err.message);
        CHECK(memcmp(a->params.data, b->params.data, a->params.data_floats * sizeof(float)) != 0);
        gt_nn_load_report rep;
        CHECK_MSG(gt_nn_model_load(b, path, 1, &rep, &err) == GT_OK, "%s", err.message);
        CHECK(memcmp(a->params.data, b->params.data, a->params.data_floats * sizeof(float)) == 0);
        CHECK_EQ_INT(rep.missing, 0);
        CHECK_EQ_INT(rep.unused, 0);
        CHECK_EQ_INT(rep.loaded, model_hf_tensors(a, NULL, 0));
        /* the loaded model computes what the saved one does */
        int32_t ids[2 * 5] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, valid[2] = {5, 3};
        float la[6], lb[6];
        CHECK(gt_nn_infer(a, ids, valid, 2, 5, la, &err) == GT_OK);
        CHECK(gt_nn_infer(b, ids, valid, 2, 5, lb, &err) == GT_OK);
        CHECK(memcmp(la, lb, sizeof la) == 0);
        gt_nn_model_free(a);
        gt_nn_model_free(b);
    }
}

static gt_nn_model *fixture_model(const char *name, gt_nn_config *cfg)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/hf/%s", test_env("GREENTUNE_SOURCE_DIR"), name);
    gt_config *json;
    gt_error err = {0};
    if (gt_hf_load_config(dir, &json, &err) != GT_OK || gt_nn_config_from_hf(json, cfg, &err) != GT_OK) {
        test_fail(__FILE__, __LINE__, "%s: %s", name, err.message);
        return NULL;
    }
    gt_config_free(json);
    return tiny_model(cfg, 3);
}

/* The HF fixtures load (F32 bert, BF16 modernbert) and land where HF puts them. */
static void test_model_io_loads_hf_fixtures(void)
{
    const char *names[] = {"tiny-bert", "tiny-modernbert"};
    for (int i = 0; i < 2; i++) {
        gt_nn_config c;
        gt_nn_model *m = fixture_model(names[i], &c);
        if (!m)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fixtures/hf/%s/model.safetensors", test_env("GREENTUNE_SOURCE_DIR"),
                 names[i]);
        gt_error err = {0};
        gt_nn_load_report rep;
        CHECK_MSG(gt_nn_model_load(m, path, 1, &rep, &err) == GT_OK, "%s: %s", names[i], err.message);
        CHECK_EQ_INT(rep.loaded, model_hf_tensors(m, NULL, 0));
        gt_safetensors *st;
        CHECK(gt_safetensors_open(path, &st, &err) == GT_OK);
        const char *probe = i == 0 ? "bert.encoder.layer.0.attention.self.key.weight" : "model.layers.0.mlp.Wi.weight";
        const char *inside = i == 0 ? "bert.encoder.layer.0.attention.self.qkv.weight" : probe;
        const gt_tensor_info *t = gt_safetensors_find(st, probe);
        float want[512];
        CHECK(t && t->numel <= 512 && gt_tensor_to_f32(want, t, 512, &err) == GT_OK);
        const float *got = params_data(&m->params, params_find(&m->params, inside)) + (i == 0 ? 8 * 8 : 0);
        CHECK(t && memcmp(got, want, t->numel * sizeof(float)) == 0);
        gt_safetensors_close(st);
        int32_t ids[4] = {2, 3, 4, 0}, valid[1] = {3};
        float logits[2];
        CHECK_MSG(gt_nn_infer(m, ids, valid, 1, 4, logits, &err) == GT_OK, "%s", err.message);
        gt_nn_model_free(m);
    }
}

/* A checkpoint whose config does not match its weights: one line naming the tensor and both shapes. */
static void test_model_io_shape_mismatch(void)
{
    gt_nn_config c = tiny_config(GT_NN_MODERNBERT);
    c.ffn = 9;
    gt_nn_model *a = tiny_model(&c, 1);
    c.ffn = 6;
    gt_nn_model *b = tiny_model(&c, 2);
    gt_error err = {0};
    const char *path = test_path("ffn9.safetensors");
    CHECK(gt_nn_model_save(a, path, &err) == GT_OK);
    float before = params_data(&b->params, 0)[0];
    CHECK(gt_nn_model_load(b, path, 1, NULL, &err) == GT_ERR_INVALID);
    CHECK_MSG(strstr(err.message, "\"model.layers.0.mlp.Wi.weight\" has shape [18, 8], the model expects [12, 8]"),
              "%s", err.message);
    CHECK_MSG(strstr(err.message, "ffn9.safetensors") != NULL, "%s", err.message);
    CHECK(strchr(err.message, '\n') == NULL);
    /* checked before anything is copied: the model is unchanged */
    CHECK(params_data(&b->params, 0)[0] == before);
    gt_nn_model_free(a);
    gt_nn_model_free(b);
}

/* An encoder checkpoint without the classification head: strict loading
 * refuses it by name, non-strict loading keeps the head's initial values. */
static void test_model_io_missing_tensors(void)
{
    gt_nn_config c = tiny_config(GT_NN_BERT);
    gt_nn_model *m = tiny_model(&c, 1);
    /* a BertModel checkpoint: names without "bert.", no classifier */
    model_hf_tensor list[64];
    int n = model_hf_tensors(m, list, 64);
    gt_tensor_desc desc[64];
    uint64_t shapes[64][2];
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(list[i].name, "bert.", 5) != 0)
            continue;
        const param_tensor *t = &m->params.tensors[list[i].index];
        shapes[k][0] = (uint64_t)list[i].rows;
        shapes[k][1] = t->ndim == 2 ? (uint64_t)t->shape[1] : 0;
        size_t row = t->numel / (size_t)t->shape[0];
        desc[k] = (gt_tensor_desc){.name = list[i].name + 5, .dtype = GT_DTYPE_F32, .rank = t->ndim,
                                   .shape = shapes[k], .data = params_data(&m->params, list[i].index) + list[i].row0 * row};
        k++;
    }
    gt_error err = {0};
    const char *path = test_path("encoder.safetensors");
    CHECK_MSG(gt_safetensors_write(path, desc, (size_t)k, NULL, 0, &err) == GT_OK, "%s", err.message);

    gt_nn_model *b = tiny_model(&c, 9);
    CHECK(gt_nn_model_load(b, path, 1, NULL, &err) == GT_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.message, "\"classifier.weight\" is missing") != NULL, "%s", err.message);
    int cls = params_find(&b->params, "classifier.weight");
    float head = params_data(&b->params, cls)[0];
    gt_nn_load_report rep;
    CHECK_MSG(gt_nn_model_load(b, path, 0, &rep, &err) == GT_OK, "%s", err.message);
    CHECK_EQ_INT(rep.missing, 2);
    CHECK_EQ_STR(rep.first_missing, "classifier.weight");
    CHECK_EQ_INT(rep.loaded, k);
    CHECK(params_data(&b->params, cls)[0] == head);
    int word = params_find(&b->params, "bert.embeddings.word_embeddings.weight");
    CHECK(memcmp(params_data(&b->params, word), params_data(&m->params, word), 11 * 8 * sizeof(float)) == 0);
    gt_nn_model_free(b);

    /* a file of another architecture has nothing this model can use */
    gt_nn_config mc = tiny_config(GT_NN_MODERNBERT);
    gt_nn_model *mb = tiny_model(&mc, 1);
    CHECK(gt_nn_model_load(mb, path, 0, NULL, &err) == GT_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.message, "no tensor of a modernbert model") != NULL, "%s", err.message);
    gt_nn_model_free(mb);
    gt_nn_model_free(m);
}

int main(void)
{
    RUN(test_model_io_save_uses_hf_names);
    RUN(test_model_io_round_trip);
    RUN(test_model_io_loads_hf_fixtures);
    RUN(test_model_io_shape_mismatch);
    RUN(test_model_io_missing_tensors);
    return test_summary();
}
