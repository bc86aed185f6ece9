/* greentune/nn.h's devices: names, the checks, the measured peak, and which
 * backend a cuda model gets (the GPU, or — GREENTUNE_CUDA_EMULATE=1, for tests
 * on machines without one — the host backend, so that the pipeline's and the
 * bench's cuda paths run end to end on a CPU and say they were emulated). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/dev.h"
#include "nn/peak.h"

const char *gt_nn_device_name(gt_nn_device d)
{
    return d == GT_NN_CUDA ? "cuda" : d == GT_NN_CPU ? "cpu" : "unknown";
}

gt_status gt_nn_device_parse(const char *name, gt_nn_device *d, gt_error *err)
{
    if (name && !strcmp(name, "cpu"))
        *d = GT_NN_CPU;
    else if (name && !strcmp(name, "cuda"))
        *d = GT_NN_CUDA;
    else
        return gt_error_set(err, GT_ERR_INVALID, "device '%s': unknown (use cpu or cuda)", name ? name : "");
    return GT_OK;
}

static int emulated(void)
{
    const char *e = getenv("GREENTUNE_CUDA_EMULATE");
    return e && !strcmp(e, "1");
}

static void emulated_info(gt_nn_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->emulated = 1;
    snprintf(info->name, sizeof info->name, "emulated GPU (host backend)");
    info->cc_major = 9;
    snprintf(info->runtime, sizeof info->runtime, "none: GREENTUNE_CUDA_EMULATE=1 runs the CUDA model code on the CPU");
}

/* The GPU's facts are read once: the checks run at every options change. */
static gt_status cached_probe(gt_nn_device_info *info, gt_error *err)
{
    static int probed;
    static gt_status status;
    static gt_nn_device_info cached;
    static gt_error cached_err;
    if (!probed) {
        status = dev_cuda_probe(&cached, &cached_err);
        probed = 1;
    }
    if (info)
        *info = cached;
    if (status != GT_OK && err)
        *err = cached_err;
    return status;
}

gt_status gt_nn_device_check(gt_nn_device d, gt_nn_device_info *info, gt_error *err)
{
    gt_nn_device_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    if (d == GT_NN_CPU) {
        gt_nn_precision_info p;
        gt_nn_check_precision(GT_NN_FP32, &p, NULL);
        snprintf(info->name, sizeof info->name, "CPU (%s)", p.isa);
        return GT_OK;
    }
    if (d != GT_NN_CUDA)
        return gt_error_set(err, GT_ERR_INVALID, "device %d: unknown (use cpu or cuda)", (int)d);
    if (emulated()) {
        emulated_info(info);
        return GT_OK;
    }
    return cached_probe(info, err);
}

gt_status gt_nn_device_check_precision(gt_nn_device d, gt_nn_precision p, int train, gt_error *err)
{
    if ((unsigned)p >= GT_NN_PRECISIONS)
        return gt_error_set(err, GT_ERR_INVALID, "precision %d: unknown", (int)p);
    if (train && p == GT_NN_INT8)
        return gt_error_set(err, GT_ERR_INVALID, "precision int8: inference only (train in fp32 or bf16)");
    if (d == GT_NN_CPU)
        return gt_nn_check_precision(p, NULL, err);
    gt_nn_device_info info;
    gt_status st = gt_nn_device_check(d, &info, err);
    if (st != GT_OK)
        return st;
    int ampere = info.cc_major >= 8;
    if ((p == GT_NN_BF16 || p == GT_NN_TF32) && !ampere)
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "precision %s: needs a GPU of compute capability 8.0 or newer, %s is %d.%d (use fp16 or "
                            "fp32)", gt_nn_precision_name(p), info.name, info.cc_major, info.cc_minor);
    if (p == GT_NN_INT8 && info.cc_major * 10 + info.cc_minor < 75)
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "precision int8: needs a GPU of compute capability 7.5 or newer, %s is %d.%d (use fp16)",
                            info.name, info.cc_major, info.cc_minor);
    return GT_OK;
}

gt_status dev_open_device(dev **out, gt_nn_device_info *info, gt_error *err)
{
    gt_nn_device_info local;
    if (!info)
        info = &local;
    if (emulated()) {
        emulated_info(info);
        return dev_host_open(out, err);
    }
    return dev_cuda_open(out, info, err);
}

/* ---- the peak ------------------------------------------------------------------------ */

typedef struct {
    gt_nn_precision p;
} gpu_peak;

static gt_status measure_gpu(void *ctx, double seconds, gt_nn_peak *peak, gt_error *err)
{
    dev *d;
    gt_status st = dev_cuda_open(&d, NULL, err);
    if (st != GT_OK)
        return st;
    st = dev_cuda_gemm_peak(d, ((const gpu_peak *)ctx)->p, seconds, &peak->gflops, peak->impl, sizeof peak->impl,
                            err);
    dev_close(d);
    return st;
}

gt_status gt_nn_device_gemm_peak(gt_nn_device d, gt_nn_precision p, const gt_nn_peak_options *o, gt_nn_peak *peak,
                                 gt_error *err)
{
    memset(peak, 0, sizeof *peak);
    if (d == GT_NN_CPU)
        return gt_nn_gemm_peak(p, gt_nn_threads(), o, peak, err);
    gt_nn_device_info info;
    gt_status st = gt_nn_device_check(d, &info, err);
    if (st != GT_OK)
        return st;
    if (info.emulated)
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "device cuda: emulated (GREENTUNE_CUDA_EMULATE=1): there is no GPU peak to measure");
    /* one line per GPU model, driver and library versions, precision */
    char key[256];
    snprintf(key, sizeof key, "%s\t%s\t%s", info.name, info.runtime, gt_nn_precision_name(p));
    for (char *c = key; *c; c++)
        if (*c == '\n')
            *c = ' ';
    gpu_peak ctx = {p};
    return peak_cached(o, "gpu-gemm-peak.tsv", key, measure_gpu, &ctx, peak, err);
}
