/* The CUDA backend of a build without nvcc (GREENTUNE_HAVE_CUDA undefined):
 * every entry point says so in one line. With CUDA, dev_cuda.cu defines them. */
#ifndef GREENTUNE_HAVE_CUDA
#include "nn/cuda/dev.h"

static gt_status not_built(gt_error *err)
{
    return gt_error_set(err, GT_ERR_UNSUPPORTED,
                        "device cuda: this greentune was built without CUDA (no nvcc at build time, or -DGREENTUNE_CUDA=OFF); "
                        "install the CUDA toolkit and rebuild, or use device cpu");
}

gt_status dev_cuda_probe(gt_nn_device_info *info, gt_error *err)
{
    (void)info;
    return not_built(err);
}

gt_status dev_cuda_open(dev **out, gt_nn_device_info *info, gt_error *err)
{
    (void)info;
    *out = NULL;
    return not_built(err);
}

gt_status dev_cuda_gemm_peak(dev *d, gt_nn_precision p, double seconds_per_shape, double *gflops, char *impl,
                             size_t impl_size, gt_error *err)
{
    (void)d, (void)p, (void)seconds_per_shape, (void)gflops, (void)impl, (void)impl_size;
    return not_built(err);
}

long dev_cuda_fallbacks(dev *d, double *gflop)
{
    (void)d;
    if (gflop)
        *gflop = 0;
    return 0;
}
#endif
