/* The machine's measured matmul peak (gt_nn_gemm_peak in greentune/nn.h). */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "greentune/fileio.h"
#include "greentune/nn.h"
#include "nn/arena.h"
#include "nn/matmul.h"
#include "nn/peak.h"
#include "util/cpuinfo.h"

#define CACHE_FILE "gemm-peak.tsv"
#define CACHE_MAX_BYTES (256 * 1024)
#define CACHE_MAX_LINES 1000
#define CPU_MODEL_MAX 96

/* Large problems shaped like the reference model's matmuls (B*T = 4096 rows,
 * dims 256 to 1024) and a cube; the best of them is the peak. */
static const int peak_shapes[][3] = {{4096, 256, 768}, {4096, 256, 1024}, {4096, 1024, 256}, {2048, 2048, 2048}};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void fill(void *p, size_t bytes)
{
    unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++)
        b[i] = (unsigned char)(i * 37u % 7u);   /* small values of every type, no denormals */
}

/* The fastest single run of d: other work on the machine only ever slows runs
 * down, so the best one is the closest to what the hardware can do. */
static gt_status fastest_run(mm_ctx *ctx, const mm_desc *d, float *c, const void *a, const void *b, double seconds,
                             double *best, gt_error *err)
{
    gt_status st = GT_OK;
    for (int i = 0; i < 2 && st == GT_OK; i++)   /* warms caches and threads */
        st = mm_run(ctx, d, c, a, b, NULL, NULL, err);
    double start = now_s();
    *best = 1e30;
    while (st == GT_OK && (now_s() - start < seconds || *best == 1e30)) {
        double t0 = now_s();
        st = mm_run(ctx, d, c, a, b, NULL, NULL, err);
        double elapsed = now_s() - t0;
        *best = elapsed < *best ? elapsed : *best;
    }
    return st;
}

static gt_status time_shape(mm_ctx *ctx, gt_nn_precision p, const int *shape, double seconds, double *gflops,
                            char *impl, size_t impl_len, gt_error *err)
{
    mm_type t = p == GT_NN_FP32 ? MM_F32 : p == GT_NN_BF16 ? MM_BF16 : MM_U8;
    /* B packed into the layout oneDNN prefers: the fastest form it offers. */
    mm_desc d = {.M = shape[0], .K = shape[1], .N = shape[2], .a = t, .b = p == GT_NN_INT8 ? MM_S8 : t,
                 .c = p == GT_NN_INT8 ? MM_S32 : MM_F32, .b_trans = 1, .b_packed = 1};
    size_t elem = p == GT_NN_FP32 ? 4 : p == GT_NN_BF16 ? 2 : 1;
    void *a = nn_alloc((size_t)d.M * d.K * elem), *b = nn_alloc((size_t)d.K * d.N * elem);
    float *c = nn_alloc((size_t)d.M * d.N * sizeof(float));
    mm_packed packed = {0};
    const void *bp = NULL;
    double best = 0.0;
    gt_status st;
    if (!a || !b || !c) {
        st = gt_error_set(err, GT_ERR_NOMEM, "gemm peak: out of memory for a %dx%dx%d matmul", d.M, d.K, d.N);
    } else {
        fill(a, (size_t)d.M * d.K * elem);
        fill(b, (size_t)d.K * d.N * elem);
        st = mm_pack(ctx, &packed, &d, b, 1, &bp, err);
        if (st == GT_OK)
            st = fastest_run(ctx, &d, c, a, bp, seconds, &best, err);
    }
    if (st == GT_OK) {
        *gflops = 2.0 * d.M * d.N * (double)d.K / best / 1e9;
        const char *name = mm_impl(ctx, &d, err);
        snprintf(impl, impl_len, "%s", name ? name : "?");
    }
    mm_packed_free(&packed);
    nn_free(a);
    nn_free(b);
    nn_free(c);
    return st;
}

static gt_status measure(gt_nn_precision p, int threads, double seconds, gt_nn_peak *peak, gt_error *err)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    mm_ctx *ctx;
    gt_status st = mm_ctx_create(&ctx, err);
    for (size_t i = 0; st == GT_OK && i < sizeof peak_shapes / sizeof peak_shapes[0]; i++) {
        double g = 0.0;
        char impl[64];
        st = time_shape(ctx, p, peak_shapes[i], seconds, &g, impl, sizeof impl, err);
        if (st == GT_OK && g > peak->gflops) {
            peak->gflops = g;
            snprintf(peak->impl, sizeof peak->impl, "%s", impl);
        }
    }
    mm_ctx_destroy(ctx);
    omp_set_num_threads(saved);
    return st;
}

/* ---- the cache file ---------------------------------------------------------- */

/* One line per entry: cpu model, oneDNN version, threads, precision, GFLOP/s,
 * kernel, unix time; tab-separated. */
static void make_key(char *key, size_t len, const char *cpu, int threads, gt_nn_precision p)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(key, len, "%s\tonednn-%d.%d.%d\t%d\t%s", cpu, v->major, v->minor, v->patch, threads,
             gt_nn_precision_name(p));
}

static gt_status cache_dir(const gt_nn_peak_options *o, char *out, size_t len, gt_error *err)
{
    if (o && o->cache_dir && *o->cache_dir) {
        snprintf(out, len, "%s", o->cache_dir);
        return GT_OK;
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg == '/')
        snprintf(out, len, "%s/greentune", xdg);
    else if (home && *home)
        snprintf(out, len, "%s/.cache/greentune", home);
    else
        return gt_error_set(err, GT_ERR_NOT_FOUND,
                            "gemm peak cache: neither XDG_CACHE_HOME nor HOME is set (set one, or pass cache_dir)");
    return GT_OK;
}

/* mkdir -p. */
static gt_status make_dirs(const char *path, gt_error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *c = buf + 1;; c++) {
        if (*c == '/' || *c == '\0') {
            char saved = *c;
            *c = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return gt_error_set(err, GT_ERR_IO, "%s: cannot create directory: %s (set XDG_CACHE_HOME to a "
                                    "writable place)", buf, strerror(errno));
            *c = saved;
            if (!saved)
                break;
        }
    }
    return GT_OK;
}

/* Finds key's value in the cache text; malformed lines are ignored. */
static int cache_lookup(const char *text, const char *key, double *gflops, char *impl, size_t impl_len)
{
    size_t key_len = strlen(key);
    int lines = 0;
    for (const char *line = text; line && *line && lines < CACHE_MAX_LINES; lines++) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > key_len && !strncmp(line, key, key_len) && line[key_len] == '\t') {
            char rest[256];
            snprintf(rest, sizeof rest, "%.*s", (int)(len - key_len - 1), line + key_len + 1);
            char *tab = strchr(rest, '\t');
            char *stop;
            double g = strtod(rest, &stop);
            if (stop != rest && (*stop == '\t' || *stop == '\0') && g > 0.0 && g < 1e9) {
                *gflops = g;
                snprintf(impl, impl_len, "%s", tab ? tab + 1 : "?");
                char *tab2 = strchr(impl, '\t');
                if (tab2)
                    *tab2 = '\0';
                return 1;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return 0;
}

/* Writes the cache with key's line replaced (other lines kept, bounded). */
static gt_status cache_store(const char *path, const char *old, const char *key, const gt_nn_peak *peak,
                             gt_error *err)
{
    size_t cap = (old ? strlen(old) : 0) + 512;
    char *out = malloc(cap);
    if (!out)
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
    size_t n = 0, key_len = strlen(key);
    int lines = 0;
    for (const char *line = old; line && *line && lines < CACHE_MAX_LINES - 1; lines++) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        int same = len > key_len && !strncmp(line, key, key_len) && line[key_len] == '\t';
        if (!same && len > 0) {
            memcpy(out + n, line, len);
            n += len;
            out[n++] = '\n';
        }
        line = end ? end + 1 : NULL;
    }
    n += (size_t)snprintf(out + n, cap - n, "%s\t%.1f\t%s\t%lld\n", key, peak->gflops, peak->impl,
                          (long long)time(NULL));
    gt_status st = gt_write_file_atomic(path, out, n, err);
    free(out);
    return st;
}

/* The peak under key in dir/file, measured (and the file rewritten) when it is
 * not there or options ask for a refresh. */
gt_status peak_cached(const gt_nn_peak_options *options, const char *file, const char *key, peak_measure_fn measure_fn,
                      void *ctx, gt_nn_peak *peak, gt_error *err)
{
    char dir[4096], path[4200];
    gt_status st = cache_dir(options, dir, sizeof dir, err);
    if (st != GT_OK)
        return st;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *old = NULL;
    gt_error read_err = {0};
    if (gt_read_file(path, CACHE_MAX_BYTES, &old, NULL, &read_err) != GT_OK)
        old = NULL;   /* missing or unreadable: measure and rewrite it */
    if (old && !(options && options->refresh) &&
        cache_lookup(old, key, &peak->gflops, peak->impl, sizeof peak->impl)) {
        peak->cached = 1;
        free(old);
        return GT_OK;
    }
    double seconds = options && options->seconds_per_shape > 0 ? options->seconds_per_shape : 0.3;
    st = measure_fn(ctx, seconds, peak, err);
    if (st == GT_OK && (st = make_dirs(dir, err)) == GT_OK)
        st = cache_store(path, old, key, peak, err);
    free(old);
    return st;
}

typedef struct {
    gt_nn_precision p;
    int threads;
} cpu_peak;

static gt_status measure_cpu(void *ctx, double seconds, gt_nn_peak *peak, gt_error *err)
{
    const cpu_peak *c = ctx;
    return measure(c->p, c->threads, seconds, peak, err);
}

gt_status gt_nn_gemm_peak(gt_nn_precision p, int threads, const gt_nn_peak_options *options, gt_nn_peak *peak,
                          gt_error *err)
{
    memset(peak, 0, sizeof *peak);
    if (threads < 1 || threads > 1024)
        return gt_error_set(err, GT_ERR_INVALID, "gemm peak: threads %d out of range (use 1 to 1024)", threads);
    gt_status st = gt_nn_check_precision(p, NULL, err);
    if (st != GT_OK)
        return st;
    char cpu[CPU_MODEL_MAX], key[256];
    cpuinfo_model(cpu, sizeof cpu, "unknown-cpu");
    make_key(key, sizeof key, cpu, threads, p);
    cpu_peak c = {p, threads};
    return peak_cached(options, CACHE_FILE, key, measure_cpu, &c, peak, err);
}
