/* greentune/nn.h — the training engine's public face.
 *
 * The engine runs encoder models on oneDNN. What a caller outside the engine
 * needs so far: choose a precision, check that this CPU runs it, set the thread
 * count, and know the machine's measured matmul peak (the denominator of MFU).
 *
 *   gt_error err = {0};
 *   gt_nn_precision p;
 *   if (gt_nn_precision_parse("bf16", &p, &err) != GT_OK ||
 *       gt_nn_check_precision(p, NULL, &err) != GT_OK)
 *       fprintf(stderr, "greentune: %s\n", err.message);
 *   gt_nn_peak peak;
 *   gt_nn_gemm_peak(p, gt_nn_threads(), NULL, &peak, &err);   // measured once, then cached
 */
#ifndef GREENTUNE_NN_H
#define GREENTUNE_NN_H

#include "greentune/common.h"

/* Precision of the matmuls. Everything else (softmax, layernorm, loss,
 * optimizer state) stays fp32. bf16: bf16 inputs, fp32 accumulation and fp32
 * outputs, fp32 master weights. int8: inference only; s8 weights with one
 * scale per output channel (7 bits on CPUs without VNNI), u8/s8 activations
 * with one dynamic scale per call. */
typedef enum {
    GT_NN_FP32 = 0,
    GT_NN_BF16 = 1,
    GT_NN_INT8 = 2
} gt_nn_precision;

#define GT_NN_PRECISIONS 3

/* "fp32", "bf16", "int8". */
GT_API const char *gt_nn_precision_name(gt_nn_precision p);
GT_API gt_status gt_nn_precision_parse(const char *name, gt_nn_precision *p, gt_error *err);

/* What this CPU does with a precision. */
typedef struct {
    int supported;       /* the engine runs it here */
    int native;          /* with instructions made for it (AVX512_BF16/AMX, VNNI) */
    char isa[32];        /* the best instruction set oneDNN may use ("avx512_core_bf16") */
    char detail[200];    /* one line on the path taken, e.g. the slower int8 path */
} gt_nn_precision_info;

/* GT_OK when the precision runs on this CPU; GT_ERR_UNSUPPORTED with one line
 * (what is missing, what to use instead) when not. bf16 needs AVX512_BF16 or
 * AMX: emulated bf16 would be slower than fp32, so it is refused rather than
 * silently slow. int8 without VNNI runs on oneDNN's older int8 kernels
 * (supported, native = 0, said in detail). info may be NULL. */
GT_API gt_status gt_nn_check_precision(gt_nn_precision p, gt_nn_precision_info *info, gt_error *err);

/* Threads used by the engine's matmuls and ops (OpenMP), 1..1024. Matmul
 * primitives are specialised for a thread count, so results are reproducible
 * for a given count. */
GT_API gt_status gt_nn_set_threads(int threads, gt_error *err);
GT_API int gt_nn_threads(void);

/* The machine's measured matmul peak for a precision and thread count: the
 * fastest run of a few large oneDNN matmuls (fp32: f32 x f32; bf16: bf16 x bf16
 * -> f32; int8: u8 x s8 -> s32), each repeated for seconds_per_shape. Other
 * load on the machine lowers it: measure on a quiet machine (refresh = 1 to
 * measure again). Cached in
 * <cache_dir>/gemm-peak.tsv keyed by CPU model, oneDNN version, threads and
 * precision; the file is written atomically. */
typedef struct {
    const char *cache_dir;      /* NULL: $XDG_CACHE_HOME/greentune or ~/.cache/greentune */
    double seconds_per_shape;   /* 0: 0.3 */
    int refresh;                /* 1: measure again even when cached */
} gt_nn_peak_options;

typedef struct {
    double gflops;
    int cached;                 /* 1: read from the cache file, 0: measured now */
    char impl[64];              /* the kernel oneDNN ran ("brg:avx512_core_bf16") */
} gt_nn_peak;

GT_API gt_status gt_nn_gemm_peak(gt_nn_precision p, int threads, const gt_nn_peak_options *options,
                                 gt_nn_peak *peak, gt_error *err);

#endif
