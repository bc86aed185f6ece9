#include "nn/precision.h"

#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Below this many elements a conversion is not worth waking the thread team. */
#define PARALLEL_MIN 32768

void bf16_from_fp32(bf16 *out, const float *in, long n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (long i = 0; i < n; i++)
        out[i] = bf16_from_float(in[i]);
}

void bf16_to_fp32(float *out, const bf16 *in, long n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (long i = 0; i < n; i++)
        out[i] = bf16_to_float(in[i]);
}

/* Rounds to nearest (ties to even) and clamps to [lo, hi]. Written with
 * comparisons rather than fminf/fmaxf, whose NaN rules keep GCC from
 * vectorising the loops (that was 10x slower). */
static inline float round_clamp(float v, float lo, float hi)
{
    v = rintf(v);
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

float quantize_activations(void *q, int *is_unsigned, const float *x, long n)
{
    float lo = 0.0f, hi = 0.0f;
#pragma omp parallel for simd schedule(static) reduction(min : lo) reduction(max : hi) if (n >= PARALLEL_MIN)
    for (long i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *is_unsigned = lo >= 0.0f;
    float absmax = -lo > hi ? -lo : hi;
    float top = *is_unsigned ? 255.0f : 127.0f;
    float s = absmax > 0.0f ? absmax / top : 1.0f;
    float inv = 1.0f / s;
    if (*is_unsigned) {
        uint8_t *u = q;
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
        for (long i = 0; i < n; i++)
            u[i] = (uint8_t)round_clamp(x[i] * inv, 0.0f, 255.0f);
    } else {
        int8_t *v = q;
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
        for (long i = 0; i < n; i++)
            v[i] = (int8_t)round_clamp(x[i] * inv, -127.0f, 127.0f);
    }
    return s;
}

void quantize_weights(int8_t *q, float *scales, const float *w, int out, int in, int qmax)
{
    float top = (float)qmax;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < out; o++) {
        const float *row = w + (long)o * in;
        float absmax = 0.0f;
        for (int i = 0; i < in; i++)
            absmax = fabsf(row[i]) > absmax ? fabsf(row[i]) : absmax;
        float s = absmax > 0.0f ? absmax / top : 1.0f;
        float inv = 1.0f / s;
        scales[o] = s;
        for (int i = 0; i < in; i++)
            q[(long)o * in + i] = (int8_t)round_clamp(row[i] * inv, -top, top);
    }
}

void dequantize_s8(float *out, const int8_t *q, float scale, long n)
{
    for (long i = 0; i < n; i++)
        out[i] = q[i] * scale;
}

/* ---- public: names and CPU support ----------------------------------------- */

static const char *const precision_names[GT_NN_PRECISIONS] = {"fp32", "bf16", "int8", "fp16", "tf32"};

const char *gt_nn_precision_name(gt_nn_precision p)
{
    return (unsigned)p < GT_NN_PRECISIONS ? precision_names[p] : "unknown";
}

gt_status gt_nn_precision_parse(const char *name, gt_nn_precision *p, gt_error *err)
{
    for (int i = 0; i < GT_NN_PRECISIONS; i++) {
        if (name && !strcasecmp(name, precision_names[i])) {
            *p = (gt_nn_precision)i;
            return GT_OK;
        }
    }
    return gt_error_set(err, GT_ERR_INVALID, "precision '%s': unknown (use fp32, bf16, int8, fp16 or tf32)",
                        name ? name : "");
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}

/* oneDNN's ISA values are bit sets: an ISA includes every ISA whose bits it has. */
static int isa_has(dnnl_cpu_isa_t isa, dnnl_cpu_isa_t feature)
{
    return ((unsigned)isa & (unsigned)feature) == (unsigned)feature;
}

gt_status gt_nn_check_precision(gt_nn_precision p, gt_nn_precision_info *info, gt_error *err)
{
    gt_nn_precision_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    if ((unsigned)p >= GT_NN_PRECISIONS)
        return gt_error_set(err, GT_ERR_INVALID, "precision %d: unknown (use fp32, bf16, int8, fp16 or tf32)", (int)p);
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    snprintf(info->isa, sizeof info->isa, "%s", isa_name(isa));
    int avx2 = isa_has(isa, dnnl_cpu_isa_avx2);
    switch (p) {
    case GT_NN_FP32:
        info->supported = 1;
        info->native = avx2;
        snprintf(info->detail, sizeof info->detail, "fp32 matmuls on %s", info->isa);
        return GT_OK;
    case GT_NN_BF16:
        info->native = info->supported = isa_has(isa, dnnl_cpu_isa_avx512_core_bf16);
        if (!info->supported) {
            snprintf(info->detail, sizeof info->detail,
                     "no bf16 instructions (best ISA oneDNN may use: %s)", info->isa);
            return gt_error_set(err, GT_ERR_UNSUPPORTED,
                                "precision bf16: this CPU has no bf16 matmul instructions (AVX512_BF16 or AMX; "
                                "oneDNN's best ISA here is %s), and emulated bf16 is slower than fp32 "
                                "(use fp32, or a CPU with AVX512_BF16)", info->isa);
        }
        snprintf(info->detail, sizeof info->detail, "bf16 x bf16 -> fp32 matmuls on %s", info->isa);
        return GT_OK;
    case GT_NN_INT8:
        info->supported = avx2;
        info->native = isa_has(isa, dnnl_cpu_isa_avx512_core_vnni) || isa_has(isa, dnnl_cpu_isa_avx2_vnni);
        if (!info->supported) {
            snprintf(info->detail, sizeof info->detail, "no AVX2 (best ISA: %s)", info->isa);
            return gt_error_set(err, GT_ERR_UNSUPPORTED,
                                "precision int8: this CPU lacks AVX2 (oneDNN's best ISA here is %s), so int8 "
                                "matmuls would run on reference code (use fp32)", info->isa);
        }
        if (info->native)
            snprintf(info->detail, sizeof info->detail, "u8/s8 x s8 matmuls with VNNI on %s", info->isa);
        else
            snprintf(info->detail, sizeof info->detail,
                     "no VNNI: int8 matmuls take oneDNN's slower %s path (16-bit multiply-adds, so "
                     "weights use 7 bits), often no faster than fp32", info->isa);
        return GT_OK;
    case GT_NN_FP16:
    case GT_NN_TF32:
        snprintf(info->detail, sizeof info->detail, "%s matmuls are GPU only", precision_names[p]);
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "precision %s: GPU only (device cuda); on a CPU use %s",
                            precision_names[p], p == GT_NN_FP16 ? "bf16 or fp32" : "fp32");
    }
    return GT_ERR_INTERNAL;
}

int int8_weight_qmax(void)
{
    gt_nn_precision_info info;
    return gt_nn_check_precision(GT_NN_INT8, &info, NULL) == GT_OK && info.native ? 127 : 63;
}

/* ---- public: threads ------------------------------------------------------- */

gt_status gt_nn_set_threads(int threads, gt_error *err)
{
    if (threads < 1 || threads > 1024)
        return gt_error_set(err, GT_ERR_INVALID, "threads %d: out of range (use 1 to 1024)", threads);
    omp_set_num_threads(threads);
    return GT_OK;
}

int gt_nn_threads(void)
{
    return omp_get_max_threads();
}
