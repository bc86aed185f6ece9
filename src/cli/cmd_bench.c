/* greentune bench: training steps or inference batches of a model on random
 * data, timed, with the work they do and the machine's measured matmul peak. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "greentune/config.h"
#include "greentune/nn.h"

#define WARMUP_STEPS 2
#define MAX_STEPS 100000

static void usage(FILE *out)
{
    fputs("usage: greentune bench [--arch bert|modernbert] [--layers N] [--dim D] [--heads H]\n"
          "                       [--ffn F] [--seq S] [--batch B] [--vocab V]\n"
          "                       [--precision fp32|bf16|int8|fp16|tf32] [--mode train|infer]\n"
          "                       [--device cpu|cuda] [--attention standard|fused] [--profile]\n"
          "                       [--steps N] [--threads T] [--json FILE]\n"
          "\n"
          "Times training steps (forward, backward, AdamW update) or inference batches of a\n"
          "randomly initialised model on random tokens (every sequence full length), after\n"
          "2 warmup steps that are not timed. Prints the step time (median of the timed\n"
          "steps), tokens per second, achieved GFLOP/s, the machine's measured matmul peak\n"
          "for the precision on the same threads (measured once, then cached in\n"
          "~/.cache/greentune/gemm-peak.tsv) and MFU = achieved / peak.\n"
          "\n"
          "FLOPs per step count the matmuls of every linear layer (2 M N K; one forward,\n"
          "two backward) and attention's two products forward and four backward over the\n"
          "keys each query may see; elementwise ops and the optimizer are not counted.\n"
          "\n"
          "  --arch A         bert (default) or modernbert\n"
          "  --layers N       encoder layers (4)          --dim D      hidden size (256)\n"
          "  --heads H        attention heads (4)         --ffn F      FFN size (1024)\n"
          "  --seq S          tokens per sequence (256)   --batch B    sequences per step (16)\n"
          "  --vocab V        vocabulary size (8192)\n"
          "  --precision P    matmul precision: fp32 (default), bf16, int8 (inference only);\n"
          "                   with --device cuda also fp16 and tf32\n"
          "  --device D       cpu (default) or cuda: the GPU (cuBLASLt and greentune's kernels);\n"
          "                   the peak is then the GPU's, measured with cuBLASLt and cached in\n"
          "                   ~/.cache/greentune/gpu-gemm-peak.tsv\n"
          "  --attention A    standard (default up to seq 1024) or fused\n"
          "  --profile        cuda: after the timed steps, 3 more with every op timed, and the\n"
          "                   device time by kind of op (gemm, attn_gemm, attention, norm, ...)\n"
          "  --mode M         train (default) or infer\n"
          "  --steps N        timed steps (10)\n"
          "  --threads T      threads (default: all the engine may use)\n"
          "  --json FILE      also write the result as JSON\n"
          "  -h, --help       this help\n",
          out);
}

typedef struct {
    gt_nn_config cfg;
    gt_nn_precision precision;
    gt_nn_device device;
    gt_nn_attention attention;
    int train, steps, threads, batch, seq, profile;
    const char *json;
} bench_opts;

#define PROFILE_STEPS 3

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Returns 0 on success, else the exit code. */
static int parse(int argc, char **argv, bench_opts *o)
{
    static const struct option options[] = {
        {"arch", required_argument, NULL, 'a'},   {"layers", required_argument, NULL, 'l'},
        {"dim", required_argument, NULL, 'd'},    {"heads", required_argument, NULL, 'H'},
        {"ffn", required_argument, NULL, 'f'},    {"seq", required_argument, NULL, 's'},
        {"batch", required_argument, NULL, 'b'},  {"vocab", required_argument, NULL, 'v'},
        {"precision", required_argument, NULL, 'p'}, {"mode", required_argument, NULL, 'm'},
        {"steps", required_argument, NULL, 'n'},  {"threads", required_argument, NULL, 't'},
        {"json", required_argument, NULL, 'j'},   {"help", no_argument, NULL, 'h'},
        {"device", required_argument, NULL, 'D'}, {"attention", required_argument, NULL, 'A'},
        {"profile", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0}};
    gt_nn_arch arch = GT_NN_BERT;
    long layers = 4, dim = 256, heads = 4, ffn = 1024, vocab = 8192, v;
    gt_error err = {0};
    *o = (bench_opts){.precision = GT_NN_FP32, .train = 1, .steps = 10, .threads = gt_nn_threads(), .batch = 16,
                      .seq = 256, .attention = (gt_nn_attention)-1};
    int c;
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (gt_nn_arch_parse(optarg, &arch, &err) != GT_OK)
                return cli_fail(CLI_EXIT_USAGE, "--arch: %s", err.message);
            break;
        case 'l': if (!cli_parse_long("--layers", optarg, 1, 1024, &layers)) return CLI_EXIT_USAGE; break;
        case 'd': if (!cli_parse_long("--dim", optarg, 1, 65536, &dim)) return CLI_EXIT_USAGE; break;
        case 'H': if (!cli_parse_long("--heads", optarg, 1, 4096, &heads)) return CLI_EXIT_USAGE; break;
        case 'f': if (!cli_parse_long("--ffn", optarg, 1, 1 << 20, &ffn)) return CLI_EXIT_USAGE; break;
        case 'v': if (!cli_parse_long("--vocab", optarg, 1, 1 << 24, &vocab)) return CLI_EXIT_USAGE; break;
        case 's':
            if (!cli_parse_long("--seq", optarg, 1, 1 << 20, &v))
                return CLI_EXIT_USAGE;
            o->seq = (int)v;
            break;
        case 'b':
            if (!cli_parse_long("--batch", optarg, 1, 1 << 24, &v))
                return CLI_EXIT_USAGE;
            o->batch = (int)v;
            break;
        case 'n':
            if (!cli_parse_long("--steps", optarg, 1, MAX_STEPS, &v))
                return CLI_EXIT_USAGE;
            o->steps = (int)v;
            break;
        case 't':
            if (!cli_parse_long("--threads", optarg, 1, 1024, &v))
                return CLI_EXIT_USAGE;
            o->threads = (int)v;
            break;
        case 'p':
            if (gt_nn_precision_parse(optarg, &o->precision, &err) != GT_OK)
                return cli_fail(CLI_EXIT_USAGE, "--precision: %s", err.message);
            break;
        case 'm':
            if (strcmp(optarg, "train") && strcmp(optarg, "infer"))
                return cli_fail(CLI_EXIT_USAGE, "--mode: '%s' is not a mode (use train or infer)", optarg);
            o->train = !strcmp(optarg, "train");
            break;
        case 'j': o->json = optarg; break;
        case 'D':
            if (gt_nn_device_parse(optarg, &o->device, &err) != GT_OK)
                return cli_fail(CLI_EXIT_USAGE, "--device: %s", err.message);
            break;
        case 'A':
            if (strcmp(optarg, "standard") && strcmp(optarg, "fused"))
                return cli_fail(CLI_EXIT_USAGE, "--attention: '%s' is not a kernel (use standard or fused)", optarg);
            o->attention = strcmp(optarg, "fused") ? GT_NN_ATTN_STANDARD : GT_NN_ATTN_FUSED;
            break;
        case 'P': o->profile = 1; break;
        case 'h': usage(stdout); return -1;
        default: return cli_usage_error("bench");
        }
    }
    if (optind < argc)
        return cli_fail(CLI_EXIT_USAGE, "bench: unexpected argument '%s'; see 'greentune bench --help'", argv[optind]);
    if (o->train && o->precision == GT_NN_INT8)
        return cli_fail(CLI_EXIT_USAGE, "--precision int8: inference only (add --mode infer, or train in fp32 or bf16)");
    if (o->device == GT_NN_CPU && (o->precision == GT_NN_FP16 || o->precision == GT_NN_TF32))
        return cli_fail(CLI_EXIT_USAGE, "--precision %s: GPU only (add --device cuda, or use bf16 or fp32)",
                        gt_nn_precision_name(o->precision));
    if (o->profile && o->device != GT_NN_CUDA)
        return cli_fail(CLI_EXIT_USAGE, "--profile: times GPU ops (add --device cuda)");
    if ((int)o->attention < 0)   /* the straightforward kernel is the faster one at the lengths the engine trains at */
        o->attention = o->seq > 1024 ? GT_NN_ATTN_FUSED : GT_NN_ATTN_STANDARD;
    gt_nn_config_default(&o->cfg, arch);
    o->cfg.layers = (int)layers;
    o->cfg.dim = (int)dim;
    o->cfg.heads = (int)heads;
    o->cfg.ffn = (int)ffn;
    o->cfg.vocab = (int)vocab;
    o->cfg.max_len = o->seq;
    o->cfg.pad_id = 0;
    if (gt_nn_config_check(&o->cfg, &err) != GT_OK)
        return cli_fail(CLI_EXIT_USAGE, "bench: %s", err.message);
    return 0;
}

typedef struct {
    double median_s, best_s, mean_s;
    double flops, peak_gflops;
    gt_nn_peak peak;
    float loss_first, loss_last;
    gt_nn_model_info info;
    gt_nn_device_info device;
    gt_nn_profile profile;
} bench_result;

/* One timed unit of work: a training step or an inference batch. */
static gt_status run_step(gt_nn_model *m, const bench_opts *o, const int32_t *ids, const int32_t *labels,
                          float *logits, float *loss, gt_error *err)
{
    if (!o->train)
        return gt_nn_infer(m, ids, NULL, o->batch, o->seq, logits, err);
    gt_nn_zero_grad(m);
    gt_status st = gt_nn_forward(m, ids, NULL, labels, o->batch, o->seq, logits, loss, err);
    if (st == GT_OK)
        st = gt_nn_backward(m, 1.0f, err);
    if (st == GT_OK)
        st = gt_nn_step(m, 1e-4, 1.0, NULL, err);
    return st;
}

static gt_status measure(const bench_opts *o, bench_result *r, gt_error *err)
{
    gt_nn_model *m;
    gt_status st = gt_nn_model_create(&o->cfg, 1, &m, err);
    if (st != GT_OK)
        return st;
    gt_nn_options opt = {.train_precision = o->train ? o->precision : GT_NN_FP32,
                         .infer_precision = o->precision,
                         .attention = o->attention,
                         .fused = 1,
                         .device = o->device};
    size_t n = (size_t)o->batch * o->seq;
    int32_t *ids = malloc(n * sizeof *ids), *labels = malloc((size_t)o->batch * sizeof *labels);
    float *logits = malloc((size_t)o->batch * o->cfg.num_labels * sizeof *logits);
    double *times = malloc((size_t)o->steps * sizeof *times);
    if (!ids || !labels || !logits || !times) {
        st = gt_error_set(err, GT_ERR_NOMEM, "bench: out of memory for %zu tokens", n);
        goto done;
    }
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)o->cfg.vocab);
    }
    for (int b = 0; b < o->batch; b++)
        labels[b] = b % o->cfg.num_labels;
    if ((st = gt_nn_model_set_options(m, &opt, err)) != GT_OK)
        goto done;
    for (int i = 0; i < WARMUP_STEPS + o->steps && st == GT_OK; i++) {
        float loss = 0;
        double t0 = now_s();
        st = run_step(m, o, ids, labels, logits, &loss, err);
        if (i >= WARMUP_STEPS)
            times[i - WARMUP_STEPS] = now_s() - t0;
        if (i == 0)
            r->loss_first = loss;
        r->loss_last = loss;
    }
    /* a few more steps with every device op timed: where the time goes */
    for (int i = 0; o->profile && i < PROFILE_STEPS && st == GT_OK; i++) {
        float loss = 0;
        if ((st = gt_nn_model_profile(m, i == 0, NULL, err)) == GT_OK)
            st = run_step(m, o, ids, labels, logits, &loss, err);
    }
    if (st == GT_OK && o->profile)
        st = gt_nn_model_profile(m, 0, &r->profile, err);
    if (st != GT_OK)
        goto done;
    double sum = 0;
    for (int i = 0; i < o->steps; i++)
        sum += times[i];
    qsort(times, (size_t)o->steps, sizeof *times, cmp_double);
    r->median_s = o->steps % 2 ? times[o->steps / 2] : 0.5 * (times[o->steps / 2 - 1] + times[o->steps / 2]);
    r->best_s = times[0];
    r->mean_s = sum / o->steps;
    r->flops = gt_nn_step_flops(&o->cfg, o->batch, o->seq, o->train);
    gt_nn_model_info_get(m, &r->info);
done:
    free(ids);
    free(labels);
    free(logits);
    free(times);
    gt_nn_model_free(m);
    return st;
}

static cJSON *result_json(const bench_opts *o, const bench_result *r)
{
    const gt_nn_config *c = &o->cfg;
    double tokens = (double)o->batch * o->seq, gflops = r->flops / r->median_s / 1e9;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "arch", gt_nn_arch_name(c->arch));
    cJSON_AddStringToObject(j, "precision", gt_nn_precision_name(o->precision));
    cJSON_AddStringToObject(j, "mode", o->train ? "train" : "infer");
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "tokens_per_s", tokens / r->median_s);
    cJSON_AddNumberToObject(j, "step_ms", r->median_s * 1e3);
    cJSON_AddNumberToObject(j, "gflops", gflops);
    cJSON_AddNumberToObject(j, "peak_gflops", r->peak.gflops);
    cJSON_AddNumberToObject(j, "mfu", r->peak.gflops > 0 ? gflops / r->peak.gflops : 0);
    cJSON *shape = cJSON_AddObjectToObject(j, "shape");
    cJSON_AddNumberToObject(shape, "layers", c->layers);
    cJSON_AddNumberToObject(shape, "dim", c->dim);
    cJSON_AddNumberToObject(shape, "heads", c->heads);
    cJSON_AddNumberToObject(shape, "ffn", c->ffn);
    cJSON_AddNumberToObject(shape, "seq", o->seq);
    cJSON_AddNumberToObject(shape, "batch", o->batch);
    cJSON_AddNumberToObject(shape, "vocab", c->vocab);
    cJSON_AddStringToObject(j, "attention", gt_nn_attention_name(o->attention));
    cJSON_AddStringToObject(j, "device", gt_nn_device_name(o->device));
    if (o->device == GT_NN_CUDA) {
        cJSON_AddStringToObject(j, "gpu", r->device.name);
        cJSON_AddStringToObject(j, "gpu_runtime", r->device.runtime);
        cJSON_AddBoolToObject(j, "emulated", r->device.emulated);
    }
    if (o->profile) {
        cJSON *p = cJSON_AddObjectToObject(j, "device_ms_by_kind");
        for (int k = 0; k < r->profile.kinds; k++)
            cJSON_AddNumberToObject(p, r->profile.name[k], r->profile.ms[k] / PROFILE_STEPS);
        cJSON_AddNumberToObject(j, "fallback_matmuls", (double)r->profile.fallback_matmuls);
        cJSON_AddNumberToObject(j, "fallback_gflop", r->profile.fallback_gflop);
    }
    cJSON_AddBoolToObject(j, "fused_kernels", 1);
    cJSON_AddStringToObject(j, "peak_impl", r->peak.impl);
    cJSON_AddBoolToObject(j, "peak_cached", r->peak.cached);
    cJSON_AddNumberToObject(j, "steps", o->steps);
    cJSON_AddNumberToObject(j, "warmup_steps", WARMUP_STEPS);
    cJSON_AddNumberToObject(j, "step_ms_best", r->best_s * 1e3);
    cJSON_AddNumberToObject(j, "step_ms_mean", r->mean_s * 1e3);
    cJSON_AddNumberToObject(j, "tokens_per_s_best", tokens / r->best_s);
    cJSON_AddNumberToObject(j, "gflop_per_step", r->flops / 1e9);
    cJSON_AddNumberToObject(j, "params", (double)r->info.params);
    cJSON_AddNumberToObject(j, "activation_mib", r->info.arena_bytes / 1048576.0);
    if (o->train) {
        cJSON_AddNumberToObject(j, "loss_first", r->loss_first);
        cJSON_AddNumberToObject(j, "loss_last", r->loss_last);
    }
    return j;
}

static void print_result(const bench_opts *o, const bench_result *r)
{
    const gt_nn_config *c = &o->cfg;
    double gflops = r->flops / r->median_s / 1e9;
    char where[160];
    if (o->device == GT_NN_CUDA)
        snprintf(where, sizeof where, "%s%s", r->device.name, r->device.emulated ? " (emulated: no GPU ran)" : "");
    else
        snprintf(where, sizeof where, "%d threads", o->threads);
    printf("greentune bench: %s, %d layers, dim %d, %d heads, ffn %d, vocab %d; batch %d x seq %d; %s %s; "
           "%s attention; %s\n", gt_nn_arch_name(c->arch), c->layers, c->dim, c->heads, c->ffn, c->vocab, o->batch,
           o->seq, gt_nn_precision_name(o->precision), o->train ? "train" : "infer", gt_nn_attention_name(o->attention),
           where);
    printf("  step  %9.2f ms   median of %d (best %.2f, mean %.2f; %d warmup steps not timed)\n",
           r->median_s * 1e3, o->steps, r->best_s * 1e3, r->mean_s * 1e3, WARMUP_STEPS);
    printf("  rate  %9.0f tokens/s (best %.0f)\n", (double)o->batch * o->seq / r->median_s,
           (double)o->batch * o->seq / r->best_s);
    printf("  work  %9.2f GFLOP per step -> %.1f GFLOP/s\n", r->flops / 1e9, gflops);
    if (r->device.emulated)
        printf("  peak  none: emulated, no GPU ran (no MFU)\n");
    else
        printf("  peak  %9.1f GFLOP/s %s on %s (%s, %s) -> MFU %.2f\n", r->peak.gflops,
               gt_nn_precision_name(o->precision), where, r->peak.impl, r->peak.cached ? "cached" : "measured now",
               r->peak.gflops > 0 ? gflops / r->peak.gflops : 0);
    double total = 0;
    for (int k = 0; k < r->profile.kinds; k++)
        total += r->profile.ms[k];
    if (o->profile)
        printf("  device time by kind of op, per step (%d profiled steps; %ld matmuls, %.3f GFLOP, on the plain "
               "kernel):\n", PROFILE_STEPS, r->profile.fallback_matmuls, r->profile.fallback_gflop);
    for (int k = 0; o->profile && k < r->profile.kinds; k++)
        if (r->profile.calls[k])
            printf("    %-12s %9.3f ms  %5.1f %%  (%ld ops)\n", r->profile.name[k], r->profile.ms[k] / PROFILE_STEPS,
                   total > 0 ? 100 * r->profile.ms[k] / total : 0, r->profile.calls[k] / PROFILE_STEPS);
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    gt_error err = {0};
    bench_result r;
    memset(&r, 0, sizeof r);
    if (gt_nn_set_threads(o.threads, &err) != GT_OK || gt_nn_device_check(o.device, &r.device, &err) != GT_OK ||
        gt_nn_device_check_precision(o.device, o.precision, o.train, &err) != GT_OK)
        return cli_fail_error(&err);
    if (measure(&o, &r, &err) != GT_OK)
        return cli_fail_error(&err);
    if (gt_nn_device_gemm_peak(o.device, o.precision, NULL, &r.peak, &err) != GT_OK &&
        !(o.device == GT_NN_CUDA && r.device.emulated))
        return cli_fail_error(&err);
    print_result(&o, &r);
    if (o.json) {
        cJSON *j = result_json(&o, &r);
        gt_status st = j ? gt_json_write_file(o.json, j, &err) : gt_error_set(&err, GT_ERR_NOMEM, "out of memory");
        cJSON_Delete(j);
        if (st != GT_OK)
            return cli_fail_error(&err);
    }
    return 0;
}
