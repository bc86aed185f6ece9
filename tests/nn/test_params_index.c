/* The parameter index: names, shapes, offsets, alignment, trainable counts. */
#include <string.h>

#include "nn/params.h"
#include "test_support.h"

/* A small BERT-like set with Hugging Face names. */
static void build(param_set *ps)
{
    params_init(ps);
    int64_t emb[2] = {100, 24}, w[2] = {24, 24}, b[1] = {24}, cls[2] = {2, 24};
    CHECK_EQ_INT(params_add(ps, "bert.embeddings.word_embeddings.weight", 2, emb, 0, NULL, NULL), GT_OK);
    CHECK_EQ_INT(params_add(ps, "bert.embeddings.LayerNorm.weight", 1, b, PARAM_NO_DECAY, NULL, NULL), GT_OK);
    CHECK_EQ_INT(params_add(ps, "bert.encoder.layer.0.attention.self.query.weight", 2, w, PARAM_FROZEN, NULL, NULL),
                 GT_OK);
    CHECK_EQ_INT(params_add(ps, "bert.encoder.layer.0.attention.self.query.bias", 1, b, PARAM_NO_DECAY, NULL, NULL),
                 GT_OK);
    int idx;
    CHECK_EQ_INT(params_add(ps, "classifier.weight", 2, cls, 0, &idx, NULL), GT_OK);
    CHECK_EQ_INT(idx, 4);
}

static void test_lookup_by_name(void)
{
    param_set ps;
    build(&ps);
    CHECK_EQ_INT(params_finalize(&ps, NULL), GT_OK);
    int i = params_find(&ps, "bert.encoder.layer.0.attention.self.query.bias");
    CHECK_EQ_INT(i, 3);
    CHECK_EQ_INT(ps.tensors[i].ndim, 1);
    CHECK_EQ_INT(ps.tensors[i].shape[0], 24);
    CHECK_EQ_INT(params_find(&ps, "bert.pooler.dense.weight"), -1);
    CHECK_EQ_INT(params_find(&ps, "classifier.weight"), 4);
    CHECK_EQ_INT(ps.tensors[4].numel, 48);
    params_free(&ps);
}

/* Tensors follow each other in declaration order, each at a 64-byte boundary,
 * with no more than the alignment padding between them; trainable tensors'
 * gradients start on 256-float boundaries and frozen ones have none. */
static void test_offsets_contiguous_and_aligned(void)
{
    param_set ps;
    build(&ps);
    CHECK_EQ_INT(params_finalize(&ps, NULL), GT_OK);
    size_t expect = 0, grad = 0;
    for (int i = 0; i < ps.count; i++) {
        const param_tensor *t = &ps.tensors[i];
        CHECK_EQ_INT(t->offset, expect);
        CHECK_EQ_INT(((uintptr_t)params_data(&ps, i)) % 64, 0);
        expect = (t->offset + t->numel + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
        if (t->trainable) {
            CHECK_EQ_INT(t->grad_offset, grad);
            CHECK_EQ_INT(t->grad_offset % PARAM_GRAD_ALIGN, 0);
            CHECK(params_grad(&ps, i) == ps.grad + t->grad_offset);
            grad = (t->grad_offset + t->numel + PARAM_GRAD_ALIGN - 1) / PARAM_GRAD_ALIGN * PARAM_GRAD_ALIGN;
        } else {
            CHECK(params_grad(&ps, i) == NULL);
            CHECK(t->grad_offset == PARAM_NO_GRAD);
        }
    }
    CHECK_EQ_INT(ps.data_floats, expect);
    CHECK_EQ_INT(ps.grad_floats, grad);
    /* Zeroed, writable to the last value. */
    CHECK_NEAR(ps.data[ps.data_floats - 1], 0.0, 0.0);
    ps.data[ps.data_floats - 1] = 1.0f;
    params_free(&ps);
}

static void test_counts(void)
{
    param_set ps;
    build(&ps);
    CHECK_EQ_INT(params_finalize(&ps, NULL), GT_OK);
    CHECK_EQ_INT(params_count(&ps, 0), 2400 + 24 + 576 + 24 + 48);
    CHECK_EQ_INT(params_count(&ps, 1), 2400 + 24 + 24 + 48);
    CHECK_EQ_INT(ps.tensors[1].decay, 0);
    CHECK_EQ_INT(ps.tensors[0].decay, 1);
    params_free(&ps);
}

/* Freezing is decided before finalize; afterwards the layout is fixed. */
static void test_trainable_before_finalize_only(void)
{
    param_set ps;
    build(&ps);
    gt_error err = {0};
    CHECK_EQ_INT(params_set_trainable(&ps, 0, 0, &err), GT_OK);
    CHECK_EQ_INT(params_finalize(&ps, NULL), GT_OK);
    CHECK(params_grad(&ps, 0) == NULL);
    CHECK_EQ_INT(params_set_trainable(&ps, 0, 1, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "word_embeddings") != NULL);
    int64_t b[1] = {4};
    CHECK_EQ_INT(params_add(&ps, "late", 1, b, 0, NULL, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "after params_finalize") != NULL);
    uint64_t e = ps.epoch;
    params_touch(&ps);
    CHECK(ps.epoch == e + 1);
    params_free(&ps);
}

/* Bad declarations: one clear line each. */
static void test_bad_declarations(void)
{
    param_set ps;
    params_init(&ps);
    gt_error err = {0};
    int64_t good[1] = {3}, zero[2] = {4, 0}, huge[2] = {INT64_C(1) << 40, 2};
    CHECK_EQ_INT(params_add(&ps, "a", 1, good, 0, NULL, NULL), GT_OK);
    CHECK_EQ_INT(params_add(&ps, "a", 1, good, 0, NULL, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "declared twice") != NULL);
    CHECK_EQ_INT(params_add(&ps, "z", 2, zero, 0, NULL, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "dimension 1 is 0") != NULL);
    CHECK_EQ_INT(params_add(&ps, "h", 2, huge, 0, NULL, &err), GT_ERR_INVALID);
    CHECK_EQ_INT(params_add(&ps, "d", 5, good, 0, NULL, &err), GT_ERR_INVALID);
    CHECK_EQ_INT(params_add(&ps, "", 1, good, 0, NULL, &err), GT_ERR_INVALID);
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK_EQ_INT(params_add(&ps, longname, 1, good, 0, NULL, &err), GT_ERR_INVALID);
    CHECK_EQ_INT(ps.count, 1);
    params_free(&ps);
}

/* Many tensors grow the index without losing any. */
static void test_many_tensors(void)
{
    param_set ps;
    params_init(&ps);
    int64_t s[1] = {1};
    for (int i = 0; i < 500; i++) {
        char name[32];
        snprintf(name, sizeof name, "t.%d", i);
        CHECK_EQ_INT(params_add(&ps, name, 1, s, 0, NULL, NULL), GT_OK);
    }
    CHECK_EQ_INT(params_finalize(&ps, NULL), GT_OK);
    CHECK_EQ_INT(params_find(&ps, "t.499"), 499);
    CHECK_EQ_INT(ps.tensors[499].offset, 499 * PARAM_ALIGN);
    params_free(&ps);
}

int main(void)
{
    RUN(test_lookup_by_name);
    RUN(test_offsets_contiguous_and_aligned);
    RUN(test_counts);
    RUN(test_trainable_before_finalize_only);
    RUN(test_bad_declarations);
    RUN(test_many_tensors);
    return test_summary();
}
