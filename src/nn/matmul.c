#include "nn/matmul.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "nn/arena.h"

/* One cached primitive with the memory objects it runs on. The memory objects
 * have no data of their own: each call binds the caller's pointers. */
typedef struct {
    mm_desc key;
    int used;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c, bias, scales, scratchpad;
    dnnl_memory_desc_t b_md;        /* B's layout as the primitive wants it */
    dnnl_primitive_t pack;          /* reorder plain B -> b_md, made on first mm_pack */
    dnnl_memory_t pack_src;
    const char *impl;
} mm_entry;

struct mm_ctx {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    mm_entry *table;                /* open addressing, linear probing; cap a power of 2 */
    int cap, count;
    void *scratchpad;               /* shared by all primitives (user scratchpad mode) */
    size_t scratchpad_bytes;
    void *scratch;                  /* mm_scratch() */
    size_t scratch_bytes;
    mm_stats stats;
    gt_error first_error;
};

static const char *dnnl_status_text(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "not implemented for these types and layouts";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown error";
    }
}

static const char *type_name(mm_type t)
{
    static const char *const names[] = {"f32", "bf16", "s8", "u8", "s32"};
    return (unsigned)t <= MM_S32 ? names[t] : "?";
}

static dnnl_data_type_t dnnl_type(mm_type t)
{
    switch (t) {
    case MM_F32: return dnnl_f32;
    case MM_BF16: return dnnl_bf16;
    case MM_S8: return dnnl_s8;
    case MM_U8: return dnnl_u8;
    case MM_S32: return dnnl_s32;
    }
    return dnnl_data_type_undef;
}

/* The precision a problem counts under, from the type of A. */
static gt_nn_precision precision_of(mm_type a)
{
    return a == MM_F32 ? GT_NN_FP32 : a == MM_BF16 ? GT_NN_BF16 : GT_NN_INT8;
}

/* Problem text for error messages: "matmul 4096x256 . 256x768 (bf16)". */
static void describe(char *buf, size_t len, const mm_desc *d)
{
    snprintf(buf, len, "matmul %dx%d%s . %dx%d%s (%s x %s)", d->M, d->K, d->a_trans ? "^T" : "", d->K, d->N,
             d->b_trans ? "^T" : "", type_name(d->a), type_name(d->b));
}

static gt_status fail(mm_ctx *ctx, gt_error *err, gt_status status, const mm_desc *d, const char *problem,
                      dnnl_status_t ds)
{
    char what[128];
    describe(what, sizeof what, d);
    gt_error local;
    if (!err)
        err = &local;
    if (ds != dnnl_success)
        gt_error_set(err, status, "%s: %s: oneDNN says %s", what, problem, dnnl_status_text(ds));
    else
        gt_error_set(err, status, "%s: %s", what, problem);
    mm_ctx_note_error(ctx, err);
    return status;
}

static gt_status validate(const mm_desc *d)
{
    if (d->M <= 0 || d->N <= 0 || d->K <= 0)
        return GT_ERR_INVALID;
    int ok = (d->a == MM_F32 && d->b == MM_F32) || (d->a == MM_BF16 && d->b == MM_BF16) ||
             ((d->a == MM_S8 || d->a == MM_U8) && d->b == MM_S8);
    int int8 = d->b == MM_S8;
    if (!ok || (d->scaled && !int8) || (d->c != MM_F32 && d->c != MM_S32) || (d->c == MM_S32 && !int8) ||
        (d->c == MM_S32 && (d->bias || d->scaled || d->accumulate || d->eltwise)) ||
        (unsigned)d->eltwise > MM_ELTWISE_RELU || d->batch < 0 ||
        (d->batch > 1 && (d->bias || d->scaled || d->b_packed)))
        return GT_ERR_INVALID;
    return GT_OK;
}

/* ---- the primitive cache ------------------------------------------------------ */

static uint64_t hash_desc(const mm_desc *d)
{
    const unsigned char *p = (const unsigned char *)d;
    uint64_t h = 1469598103934665603ull;      /* FNV-1a */
    for (size_t i = 0; i < sizeof *d; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static mm_entry *find_slot(mm_entry *table, int cap, const mm_desc *d)
{
    size_t i = hash_desc(d) & (size_t)(cap - 1);
    while (table[i].used && memcmp(&table[i].key, d, sizeof *d) != 0)
        i = (i + 1) & (size_t)(cap - 1);
    return &table[i];
}

static gt_status grow_table(mm_ctx *ctx)
{
    int cap = ctx->cap ? ctx->cap * 2 : 64;
    mm_entry *table = nn_alloc((size_t)cap * sizeof *table);
    if (!table)
        return GT_ERR_NOMEM;
    for (int i = 0; i < ctx->cap; i++)
        if (ctx->table[i].used)
            *find_slot(table, cap, &ctx->table[i].key) = ctx->table[i];
    nn_free(ctx->table);
    ctx->table = table;
    ctx->cap = cap;
    return GT_OK;
}

static void entry_destroy(mm_entry *e)
{
    dnnl_memory_t mems[] = {e->a, e->b, e->c, e->bias, e->scales, e->scratchpad, e->pack_src};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    if (e->pack)
        dnnl_primitive_destroy(e->pack);
    if (e->prim)
        dnnl_primitive_destroy(e->prim);
    if (e->pd)
        dnnl_primitive_desc_destroy(e->pd);
    memset(e, 0, sizeof *e);
}

/* A (rows, cols) matrix, stored transposed when trans; batch > 1 stacks that many. */
static dnnl_status_t batch_md(dnnl_memory_desc_t *md, int batch, int rows, int cols, mm_type t, int trans)
{
    if (batch > 1) {
        dnnl_dims_t dims = {batch, rows, cols};
        return dnnl_memory_desc_init_by_tag(md, 3, dims, dnnl_type(t), trans ? dnnl_acb : dnnl_abc);
    }
    dnnl_dims_t dims = {rows, cols};
    return dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_type(t), trans ? dnnl_ba : dnnl_ab);
}

static dnnl_status_t matrix_md(dnnl_memory_desc_t *md, int rows, int cols, mm_type t, int trans)
{
    return batch_md(md, 1, rows, cols, t, trans);
}

static dnnl_status_t make_attr(dnnl_primitive_attr_t *attr, const mm_desc *d)
{
    dnnl_status_t s = dnnl_primitive_attr_create(attr);
    if (s != dnnl_success)
        return s;
    /* The context owns one scratchpad for all primitives, so running allocates nothing. */
    s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success && d->scaled) {
        const float runtime = DNNL_RUNTIME_F32_VAL;
        s = dnnl_primitive_attr_set_output_scales(*attr, 1, 1 << 1, &runtime);
    }
    if (s == dnnl_success && (d->accumulate || d->eltwise)) {
        static const dnnl_alg_kind_t algs[] = {dnnl_alg_kind_undef, dnnl_eltwise_gelu_erf, dnnl_eltwise_gelu_tanh,
                                               dnnl_eltwise_relu};
        dnnl_post_ops_t ops;
        s = dnnl_post_ops_create(&ops);
        if (s == dnnl_success) {
            if (d->accumulate)
                s = dnnl_post_ops_append_sum(ops, 1.0f);
            if (s == dnnl_success && d->eltwise)
                s = dnnl_post_ops_append_eltwise(ops, 1.0f, algs[d->eltwise], 0.0f, 0.0f);
            if (s == dnnl_success)
                s = dnnl_primitive_attr_set_post_ops(*attr, ops);
            dnnl_post_ops_destroy(ops);
        }
    }
    return s;
}

static dnnl_status_t make_memory(dnnl_memory_t *m, const dnnl_memory_desc_t *md, dnnl_engine_t engine)
{
    return dnnl_memory_create(m, md, engine, DNNL_MEMORY_NONE);
}

static dnnl_status_t create_primitive(mm_ctx *ctx, mm_entry *e, const mm_desc *d)
{
    dnnl_memory_desc_t a_md, b_md, c_md, bias_md, scales_md;
    dnnl_status_t s = batch_md(&a_md, d->batch, d->M, d->K, d->a, d->a_trans);
    if (s == dnnl_success) {
        dnnl_dims_t dims = {d->K, d->N};
        s = d->b_packed ? dnnl_memory_desc_init_by_tag(&b_md, 2, dims, dnnl_type(d->b), dnnl_format_tag_any)
                        : batch_md(&b_md, d->batch, d->K, d->N, d->b, d->b_trans);
    }
    if (s == dnnl_success)
        s = batch_md(&c_md, d->batch, d->M, d->N, d->c, 0);
    if (s == dnnl_success)
        s = matrix_md(&bias_md, 1, d->N, MM_F32, 0);
    if (s == dnnl_success) {
        dnnl_dims_t n = {d->N};
        s = dnnl_memory_desc_init_by_tag(&scales_md, 1, n, dnnl_f32, dnnl_a);
    }
    if (s != dnnl_success)
        return s;

    dnnl_matmul_desc_t op;
    s = dnnl_matmul_desc_init(&op, &a_md, &b_md, d->bias ? &bias_md : NULL, &c_md);
    dnnl_primitive_attr_t attr = NULL;
    if (s == dnnl_success)
        s = make_attr(&attr, d);
    if (s == dnnl_success)
        s = dnnl_primitive_desc_create(&e->pd, &op, attr, ctx->engine, NULL);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return s;
    s = dnnl_primitive_create(&e->prim, e->pd);
    if (s != dnnl_success)
        return s;
    e->b_md = *dnnl_primitive_desc_query_md(e->pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_query(e->pd, dnnl_query_impl_info_str, 0, &e->impl);

    const dnnl_memory_desc_t *pad_md = dnnl_primitive_desc_query_md(e->pd, dnnl_query_scratchpad_md, 0);
    size_t pad_bytes = pad_md ? dnnl_memory_desc_get_size(pad_md) : 0;
    if (pad_bytes > ctx->scratchpad_bytes) {
        void *bigger = nn_alloc(pad_bytes);
        if (!bigger)
            return dnnl_out_of_memory;
        nn_free(ctx->scratchpad);
        ctx->scratchpad = bigger;
        ctx->scratchpad_bytes = pad_bytes;
    }
    s = make_memory(&e->a, &a_md, ctx->engine);
    if (s == dnnl_success)
        s = make_memory(&e->b, &e->b_md, ctx->engine);
    if (s == dnnl_success)
        s = make_memory(&e->c, &c_md, ctx->engine);
    if (s == dnnl_success && d->bias)
        s = make_memory(&e->bias, &bias_md, ctx->engine);
    if (s == dnnl_success && d->scaled)
        s = make_memory(&e->scales, &scales_md, ctx->engine);
    if (s == dnnl_success && pad_bytes)
        s = make_memory(&e->scratchpad, pad_md, ctx->engine);
    return s;
}

/* The cache entry for d, made on first use. d->threads must be set. */
static gt_status lookup(mm_ctx *ctx, const mm_desc *d, mm_entry **out, gt_error *err)
{
    if (validate(d) != GT_OK)
        return fail(ctx, err, GT_ERR_INVALID, d, "unsupported sizes or type combination", dnnl_success);
    if (ctx->cap) {
        mm_entry *e = find_slot(ctx->table, ctx->cap, d);
        if (e->used) {
            ctx->stats.cache_hits++;
            *out = e;
            return GT_OK;
        }
    }
    /* Refuse a precision this CPU has no instructions for before oneDNN emulates it slowly. */
    gt_error why = {0};
    if (gt_nn_check_precision(precision_of(d->a), NULL, &why) != GT_OK) {
        gt_error local;
        if (!err)
            err = &local;
        *err = why;
        mm_ctx_note_error(ctx, err);
        return why.status;
    }
    if ((ctx->count + 1) * 2 > ctx->cap && grow_table(ctx) != GT_OK)
        return fail(ctx, err, GT_ERR_NOMEM, d, "out of memory for the primitive cache", dnnl_success);
    mm_entry *e = find_slot(ctx->table, ctx->cap, d);
    dnnl_status_t s = create_primitive(ctx, e, d);
    if (s != dnnl_success) {
        entry_destroy(e);
        return fail(ctx, err, s == dnnl_out_of_memory ? GT_ERR_NOMEM : GT_ERR_UNSUPPORTED, d,
                    "cannot create the primitive", s);
    }
    e->key = *d;
    e->used = 1;
    ctx->count++;
    ctx->stats.cache_misses++;
    *out = e;
    return GT_OK;
}

/* Callers fill the problem; the thread count in force completes the key. */
static mm_desc with_threads(const mm_desc *d)
{
    mm_desc k = *d;
    k.threads = omp_get_max_threads();
    return k;
}

/* ---- context --------------------------------------------------------------- */

gt_status mm_ctx_create(mm_ctx **out, gt_error *err)
{
    *out = NULL;
    mm_ctx *ctx = nn_alloc(sizeof *ctx);
    if (!ctx)
        return gt_error_set(err, GT_ERR_NOMEM, "matmul: out of memory");
    dnnl_status_t s = dnnl_engine_create(&ctx->engine, dnnl_cpu, 0);
    if (s == dnnl_success)
        s = dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        mm_ctx_destroy(ctx);
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "oneDNN: cannot create the CPU engine: %s",
                            dnnl_status_text(s));
    }
    *out = ctx;
    return GT_OK;
}

void mm_ctx_destroy(mm_ctx *ctx)
{
    if (!ctx)
        return;
    for (int i = 0; i < ctx->cap; i++)
        if (ctx->table[i].used)
            entry_destroy(&ctx->table[i]);
    nn_free(ctx->table);
    nn_free(ctx->scratchpad);
    nn_free(ctx->scratch);
    if (ctx->stream)
        dnnl_stream_destroy(ctx->stream);
    if (ctx->engine)
        dnnl_engine_destroy(ctx->engine);
    nn_free(ctx);
}

const gt_error *mm_ctx_error(const mm_ctx *ctx)
{
    return ctx->first_error.status == GT_OK ? NULL : &ctx->first_error;
}

void mm_ctx_note_error(mm_ctx *ctx, const gt_error *e)
{
    if (ctx && e && ctx->first_error.status == GT_OK)
        ctx->first_error = *e;
}

void mm_ctx_clear_error(mm_ctx *ctx)
{
    memset(&ctx->first_error, 0, sizeof ctx->first_error);
}

mm_stats mm_ctx_stats(const mm_ctx *ctx)
{
    return ctx->stats;
}

void mm_ctx_reset_stats(mm_ctx *ctx)
{
    memset(&ctx->stats, 0, sizeof ctx->stats);
}

int mm_cache_size(const mm_ctx *ctx)
{
    return ctx->count;
}

void *mm_scratch(mm_ctx *ctx, size_t bytes, gt_error *err)
{
    gt_error local = {0};
    if (!err)
        err = &local;
    if (bytes > ctx->scratch_bytes) {
        void *bigger = nn_alloc(bytes);
        if (!bigger) {
            gt_error_set(err, GT_ERR_NOMEM, "matmul scratch: cannot allocate %.1f MiB (reduce batch or seq)",
                         bytes / 1048576.0);
            mm_ctx_note_error(ctx, err);
            return NULL;
        }
        nn_free(ctx->scratch);
        ctx->scratch = bigger;
        ctx->scratch_bytes = bytes;
    }
    return ctx->scratch;
}

const char *mm_impl(mm_ctx *ctx, const mm_desc *d, gt_error *err)
{
    mm_desc k = with_threads(d);
    mm_entry *e;
    return lookup(ctx, &k, &e, err) == GT_OK ? e->impl : NULL;
}

/* ---- running ------------------------------------------------------------------ */

static dnnl_status_t bind(dnnl_memory_t m, const void *p, dnnl_stream_t stream)
{
    /* oneDNN takes non-const handles; inputs are only read. */
    return dnnl_memory_set_data_handle_v2(m, (void *)p, stream);
}

gt_status mm_run(mm_ctx *ctx, const mm_desc *d, float *C, const void *A, const void *B, const float *bias,
                 const float *scales, gt_error *err)
{
    mm_desc k = with_threads(d);
    if (!C || !A || !B || (d->bias && !bias) || (d->scaled && !scales))
        return fail(ctx, err, GT_ERR_INVALID, &k, "missing data pointer", dnnl_success);
    mm_entry *e;
    gt_status st = lookup(ctx, &k, &e, err);
    if (st != GT_OK)
        return st;

    dnnl_exec_arg_t args[6];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->a};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->b};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->c};
    dnnl_status_t s = bind(e->a, A, ctx->stream);
    if (s == dnnl_success)
        s = bind(e->b, B, ctx->stream);
    if (s == dnnl_success)
        s = bind(e->c, C, ctx->stream);
    if (s == dnnl_success && d->bias) {
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, e->bias};
        s = bind(e->bias, bias, ctx->stream);
    }
    if (s == dnnl_success && d->scaled) {
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_OUTPUT_SCALES, e->scales};
        s = bind(e->scales, scales, ctx->stream);
    }
    if (s == dnnl_success && e->scratchpad) {
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->scratchpad};
        s = bind(e->scratchpad, ctx->scratchpad, ctx->stream);
    }
    if (s == dnnl_success)
        s = dnnl_primitive_execute(e->prim, ctx->stream, n, args);
    if (s == dnnl_success)
        s = dnnl_stream_wait(ctx->stream);
    if (s != dnnl_success)
        return fail(ctx, err, GT_ERR_INTERNAL, &k, "execution failed", s);

    gt_nn_precision p = precision_of(d->a);
    ctx->stats.flops[p] += 2.0 * d->M * d->N * (double)d->K * (d->batch > 1 ? d->batch : 1);
    ctx->stats.calls[p]++;
    return GT_OK;
}

/* ---- packed weights ---------------------------------------------------------- */

void mm_packed_free(mm_packed *p)
{
    for (int i = 0; i < MM_PACK_SLOTS; i++)
        nn_free(p->slot[i].data);
    memset(p, 0, sizeof *p);
}

static dnnl_status_t make_pack_reorder(mm_ctx *ctx, mm_entry *e, const mm_desc *d)
{
    dnnl_memory_desc_t plain;
    dnnl_status_t s = matrix_md(&plain, d->K, d->N, d->b, d->b_trans);
    dnnl_primitive_desc_t rpd = NULL;
    if (s == dnnl_success)
        s = dnnl_reorder_primitive_desc_create(&rpd, &plain, ctx->engine, &e->b_md, ctx->engine, NULL);
    if (s == dnnl_success)
        s = dnnl_primitive_create(&e->pack, rpd);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (s == dnnl_success)
        s = make_memory(&e->pack_src, &plain, ctx->engine);
    return s;
}

gt_status mm_pack(mm_ctx *ctx, mm_packed *p, const mm_desc *d, const void *b_plain, uint64_t epoch,
                  const void **b_out, gt_error *err)
{
    mm_desc k = with_threads(d);
    k.b_packed = 1;
    mm_entry *e;
    gt_status st = lookup(ctx, &k, &e, err);
    if (st != GT_OK)
        return st;
    int victim = -1;
    for (int i = 0; i < MM_PACK_SLOTS; i++) {
        if (p->slot[i].data && dnnl_memory_desc_equal(&p->slot[i].md, &e->b_md)) {
            victim = i;
            break;
        }
    }
    if (victim >= 0 && p->slot[victim].epoch == epoch) {
        *b_out = p->slot[victim].data;
        return GT_OK;
    }
    if (victim < 0) {
        victim = p->next;
        p->next = (p->next + 1) % MM_PACK_SLOTS;
    }
    size_t bytes = dnnl_memory_desc_get_size(&e->b_md);
    if (bytes > p->slot[victim].bytes) {
        void *bigger = nn_alloc(bytes);
        if (!bigger)
            return fail(ctx, err, GT_ERR_NOMEM, &k, "out of memory for packed weights", dnnl_success);
        nn_free(p->slot[victim].data);
        p->slot[victim].data = bigger;
        p->slot[victim].bytes = bytes;
    }
    dnnl_status_t s = e->pack ? dnnl_success : make_pack_reorder(ctx, e, &k);
    if (s != dnnl_success)
        return fail(ctx, err, GT_ERR_UNSUPPORTED, &k, "cannot make the weight-packing reorder", s);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, e->pack_src}, {DNNL_ARG_TO, e->b}};
    s = bind(e->pack_src, b_plain, ctx->stream);
    if (s == dnnl_success)
        s = bind(e->b, p->slot[victim].data, ctx->stream);
    if (s == dnnl_success)
        s = dnnl_primitive_execute(e->pack, ctx->stream, 2, args);
    if (s == dnnl_success)
        s = dnnl_stream_wait(ctx->stream);
    if (s != dnnl_success) {
        p->slot[victim].epoch = 0;
        return fail(ctx, err, GT_ERR_INTERNAL, &k, "packing weights failed", s);
    }
    p->slot[victim].md = e->b_md;
    p->slot[victim].epoch = epoch;
    *b_out = p->slot[victim].data;
    return GT_OK;
}
