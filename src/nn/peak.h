/* The measured matmul peaks' cache (peak.c), shared by the CPU's
 * gt_nn_gemm_peak and the GPU's gt_nn_device_gemm_peak (src/nn/cuda). */
#ifndef GREENTUNE_NN_PEAK_H
#define GREENTUNE_NN_PEAK_H

#include "greentune/nn.h"

/* Fills peak (gflops and impl) by measuring for about seconds per shape. */
typedef gt_status (*peak_measure_fn)(void *ctx, double seconds, gt_nn_peak *peak, gt_error *err);

/* The peak under key (tab-separated fields, no newline) in
 * <cache dir>/<file>: read when there (peak->cached = 1), else measured with
 * measure_fn and stored, the file rewritten atomically. The cache directory
 * is options->cache_dir, else $XDG_CACHE_HOME/greentune or ~/.cache/greentune. */
gt_status peak_cached(const gt_nn_peak_options *options, const char *file, const char *key, peak_measure_fn measure_fn,
                      void *ctx, gt_nn_peak *peak, gt_error *err);

#endif
