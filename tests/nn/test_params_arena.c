/* The activation arena (alignment, peak counter, overflow, scopes) and the
 * promise behind it: once set up, a training step allocates nothing. */
#include <string.h>

#include "core_test_util.h"
#include "nn/arena.h"
#include "nn/linear.h"
#include "nn/optimizer.h"
#include "test_support.h"

static void test_alignment_and_peak(void)
{
    nn_arena a;
    CHECK_EQ_INT(arena_init(&a, 4096, NULL), GT_OK);
    CHECK_EQ_INT((uintptr_t)a.base % NN_ALIGN, 0);
    void *p1 = arena_alloc(&a, 10), *p2 = arena_alloc(&a, 100), *p3 = arena_alloc(&a, 1);
    CHECK_EQ_INT((uintptr_t)p1 % NN_ALIGN, 0);
    CHECK_EQ_INT((uintptr_t)p2 % NN_ALIGN, 0);
    CHECK_EQ_INT((uintptr_t)p3 % NN_ALIGN, 0);
    CHECK_EQ_INT((char *)p2 - (char *)p1, 64);
    CHECK_EQ_INT((char *)p3 - (char *)p2, 128);
    CHECK_EQ_INT(a.used, 64 + 128 + 64);
    CHECK_EQ_INT(a.peak, 256);
    /* Scoped temporaries give their space back; the peak remembers them. */
    size_t mark = arena_mark(&a);
    CHECK(arena_floats(&a, 256) != NULL);
    arena_release(&a, mark);
    CHECK_EQ_INT(a.used, 256);
    CHECK_EQ_INT(a.peak, 256 + 1024);
    arena_reset(&a);
    CHECK_EQ_INT(a.used, 0);
    CHECK_EQ_INT(a.peak, 1280);
    arena_reset_peak(&a);
    CHECK_EQ_INT(a.peak, 0);
    arena_free(&a);
}

/* An allocation that does not fit returns NULL; the peak then says how big
 * the arena must be for the step. */
static void test_overflow_reports_need(void)
{
    nn_arena a;
    CHECK_EQ_INT(arena_init(&a, 1000, NULL), GT_OK);   /* rounded up to 1024 */
    CHECK_EQ_INT(a.capacity, 1024);
    CHECK(arena_alloc(&a, 1000) != NULL);
    CHECK(!arena_overflowed(&a));
    CHECK(arena_alloc(&a, 500) == NULL);
    CHECK(arena_alloc(&a, 10) == NULL);
    CHECK(arena_overflowed(&a));
    CHECK_EQ_INT(a.peak, 1024 + 512 + 64);
    CHECK_EQ_INT(arena_reserve(&a, a.peak, NULL), GT_OK);
    CHECK(!arena_overflowed(&a));
    CHECK(arena_alloc(&a, 1000) && arena_alloc(&a, 500) && arena_alloc(&a, 10));
    CHECK(arena_floats(&a, SIZE_MAX / 2) == NULL);
    arena_free(&a);
    gt_error err = {0};
    CHECK_EQ_INT(arena_init(&a, SIZE_MAX / 2, &err), GT_ERR_NOMEM);
    CHECK(strstr(err.message, "activation arena") != NULL);
}

/* Two linear layers, a loss gradient, clipping and an optimizer step, in fp32
 * and bf16, with AdamW and 8-bit AdamW: after the first step (which makes the
 * primitives, scratch, bf16 copies and state) no step calls nn_alloc.
 * (oneDNN 2.6 itself makes a few small allocations inside every primitive
 * execution for its argument map; that is outside the engine's control.) */
static void test_training_steps_allocate_nothing(void)
{
    int B = 64, in = 48, hidden = 96, out = 32;
    for (int variant = 0; variant < 2; variant++) {
        gt_nn_precision prec = variant && gt_nn_check_precision(GT_NN_BF16, NULL, NULL) == GT_OK ? GT_NN_BF16
                                                                                              : GT_NN_FP32;
        mm_ctx *mm;
        CHECK_EQ_INT(mm_ctx_create(&mm, NULL), GT_OK);
        param_set ps;
        params_init(&ps);
        int64_t w1[2] = {hidden, in}, b1[1] = {hidden}, w2[2] = {out, hidden};
        int iw1, ib1, iw2;
        params_add(&ps, "l1.weight", 2, w1, 0, &iw1, NULL);
        params_add(&ps, "l1.bias", 1, b1, PARAM_NO_DECAY, &ib1, NULL);
        params_add(&ps, "l2.weight", 2, w2, 0, &iw2, NULL);
        CHECK_EQ_INT(params_finalize(&ps, NULL), GT_OK);
        float *init = test_random((long)ps.data_floats, 0.2, 1);
        memcpy(ps.data, init, ps.data_floats * sizeof(float));
        free(init);
        linear_weight l1, l2;
        linear_weight_init(&l1, params_data(&ps, iw1), hidden, in, &ps.epoch);
        linear_weight_init(&l2, params_data(&ps, iw2), out, hidden, &ps.epoch);
        optimizer opt;
        optimizer_config cfg = optimizer_defaults(variant ? OPTIMIZER_ADAMW_8BIT : OPTIMIZER_ADAMW);
        CHECK_EQ_INT(optimizer_init(&opt, &ps, &cfg, NULL), GT_OK);
        nn_arena arena;
        CHECK_EQ_INT(arena_init(&arena, 1 << 20, NULL), GT_OK);
        float *x = test_random((long)B * in, 1.0, 2), *target = test_random((long)B * out, 1.0, 3);

        long allocs_after_first = 0;
        for (int step = 0; step < 4; step++) {
            arena_reset(&arena);
            float *h = arena_floats(&arena, (size_t)B * hidden), *y = arena_floats(&arena, (size_t)B * out);
            float *dy = arena_floats(&arena, (size_t)B * out), *dh = arena_floats(&arena, (size_t)B * hidden);
            bf16 *xb = arena_alloc(&arena, sizeof(bf16) * B * in);
            params_zero_grad(&ps);
            linear_forward(mm, h, x, xb, &l1, params_data(&ps, ib1), B, prec, NULL);
            linear_forward(mm, y, h, NULL, &l2, NULL, B, prec, NULL);
            for (int i = 0; i < B * out; i++)
                dy[i] = (y[i] - target[i]) / B;
            linear_backward(mm, dh, params_grad(&ps, iw2), NULL, dy, h, NULL, &l2, B, 0, prec, NULL);
            linear_backward(mm, NULL, params_grad(&ps, iw1), params_grad(&ps, ib1), dh, x, xb, &l1, B, 0, prec,
                            NULL);
            clip_grad_norm(&ps, 1.0);
            optimizer_step(&opt, &ps, 1e-3);
            if (step == 0)
                allocs_after_first = nn_alloc_count();
        }
        CHECK(mm_ctx_error(mm) == NULL);
        CHECK(!arena_overflowed(&arena));
        CHECK_EQ_INT(nn_alloc_count(), allocs_after_first);
        printf("%s / %s: arena peak %zu bytes, optimizer state %zu bytes\n", gt_nn_precision_name(prec),
               optimizer_name(cfg.kind), arena.peak, optimizer_state_bytes(&opt));
        free(x), free(target);
        arena_free(&arena);
        optimizer_free(&opt);
        linear_weight_free(&l1), linear_weight_free(&l2);
        params_free(&ps);
        mm_ctx_destroy(mm);
    }
}

int main(void)
{
    RUN(test_alignment_and_peak);
    RUN(test_overflow_reports_need);
    RUN(test_training_steps_allocate_nothing);
    return test_summary();
}
