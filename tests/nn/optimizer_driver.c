/* Runs greentune's optimizers on parameters and gradients from a file, for
 * tests/nn/test_optimizer_torch.py, which runs torch.optim on the same data.
 *
 *   optimizer_driver --opt adamw|adamw8bit|sgd|adafactor --numel 12,5x4,7 --flags 0,2,1
 *       [--lr X --beta1 X --beta2 X --eps X --wd X --momentum X --dampening X
 *        --nesterov 0|1 --schedule constant|linear|cosine --warmup N --total N
 *        --clip X --steps N --threshold X
 *        --eps2 X --clip-threshold X --decay-rate X --relative-step 0|1
 *        --scale-parameter 0|1 --warmup-init 0|1 --qkv 0|1] IN OUT
 *
 * numel per tensor: n (1-D) or RxC (2-D, row-major). flags per tensor: 1
 * frozen, 2 no weight decay. IN: float32 initial values of all tensors, then
 * per step the gradients of the trainable tensors. OUT: per step the learning
 * rate used (float64), the gradient norm before clipping (float64) and all
 * tensors' values after the step (float32). --qkv 1 names the first tensor as
 * BERT's packed query/key/value block (three tensors to Adafactor). stdout: "skipped S of N" (gradient
 * entries under --threshold, of all updated) and "state_bytes B". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/optimizer.h"

#define MAX_TENSORS 16

/* "12,5x4,7": out[i] the first size, cols[i] the second (0 for 1-D); cols may be NULL. */
static int parse_list(const char *s, long *out, long *cols)
{
    int n = 0;
    char *end;
    while (*s && n < MAX_TENSORS) {
        out[n] = strtol(s, &end, 10);
        long c = 0;
        if (*end == 'x' && cols)
            c = strtol(end + 1, &end, 10);
        if (cols)
            cols[n] = c;
        n++;
        if (*end != ',' && *end != '\0')
            return -1;
        s = *end ? end + 1 : end;
    }
    return n;
}

static int die(const char *msg)
{
    fprintf(stderr, "optimizer_driver: %s\n", msg);
    return 2;
}

int main(int argc, char **argv)
{
    gt_error err = {0};
    optimizer_kind kind = OPTIMIZER_ADAMW;
    optimizer_config cfg = optimizer_defaults(kind);
    int have_opt = 0;
    long numel[MAX_TENSORS], cols[MAX_TENSORS] = {0}, flags[MAX_TENSORS] = {0};
    int n_tensors = 0, n_flags = 0, steps = 1, qkv = 0;
    double lr = 1e-3, clip = 0.0;
    long warmup = 0, total = 1;
    lr_schedule sched = LR_CONSTANT;
    const char *in_path = NULL, *out_path = NULL;
    /* --opt first, so the other options override its defaults. */
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--opt")) {
            if (optimizer_parse(argv[i + 1], &kind, &err) != GT_OK)
                return die(err.message);
            cfg = optimizer_defaults(kind);
            have_opt = 1;
        }
    }
    if (!have_opt)
        return die("--opt is required");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (!in_path)
                in_path = a;
            else
                out_path = a;
            continue;
        }
        if (!v)
            return die("option without a value");
        i++;
        if (!strcmp(a, "--opt"))
            continue;
        else if (!strcmp(a, "--numel"))
            n_tensors = parse_list(v, numel, cols);
        else if (!strcmp(a, "--flags"))
            n_flags = parse_list(v, flags, NULL);
        else if (!strcmp(a, "--lr"))
            lr = atof(v);
        else if (!strcmp(a, "--beta1"))
            cfg.beta1 = atof(v);
        else if (!strcmp(a, "--beta2"))
            cfg.beta2 = atof(v);
        else if (!strcmp(a, "--eps"))
            cfg.eps = atof(v);
        else if (!strcmp(a, "--wd"))
            cfg.weight_decay = atof(v);
        else if (!strcmp(a, "--momentum"))
            cfg.momentum = atof(v);
        else if (!strcmp(a, "--dampening"))
            cfg.dampening = atof(v);
        else if (!strcmp(a, "--nesterov"))
            cfg.nesterov = atoi(v);
        else if (!strcmp(a, "--schedule")) {
            if (lr_schedule_parse(v, &sched, &err) != GT_OK)
                return die(err.message);
        } else if (!strcmp(a, "--warmup"))
            warmup = atol(v);
        else if (!strcmp(a, "--total"))
            total = atol(v);
        else if (!strcmp(a, "--clip"))
            clip = atof(v);
        else if (!strcmp(a, "--steps"))
            steps = atoi(v);
        else if (!strcmp(a, "--qkv"))
            qkv = atoi(v);
        else if (!strcmp(a, "--threshold"))
            cfg.threshold = atof(v);
        else if (!strcmp(a, "--eps2"))
            cfg.eps2 = atof(v);
        else if (!strcmp(a, "--clip-threshold"))
            cfg.clip_threshold = atof(v);
        else if (!strcmp(a, "--decay-rate"))
            cfg.decay_rate = atof(v);
        else if (!strcmp(a, "--relative-step"))
            cfg.relative_step = atoi(v);
        else if (!strcmp(a, "--scale-parameter"))
            cfg.scale_parameter = atoi(v);
        else if (!strcmp(a, "--warmup-init"))
            cfg.warmup_init = atoi(v);
        else
            return die("unknown option");
    }
    if (n_tensors <= 0 || n_flags != n_tensors || !in_path || !out_path || steps < 1)
        return die("need --numel and --flags of the same length, --steps >= 1, IN and OUT");

    param_set ps;
    params_init(&ps);
    for (int t = 0; t < n_tensors; t++) {
        char name[64];
        if (t == 0 && qkv)
            snprintf(name, sizeof name, "bert.encoder.layer.0.attention.self.qkv.weight");
        else
            snprintf(name, sizeof name, "t%d", t);
        int64_t shape[2] = {numel[t], cols[t]};
        if (params_add(&ps, name, cols[t] ? 2 : 1, shape, (int)flags[t], NULL, &err) != GT_OK)
            return die(err.message);
        if (cols[t])
            numel[t] *= cols[t];
    }
    optimizer opt;
    if (params_finalize(&ps, &err) != GT_OK || optimizer_init(&opt, &ps, &cfg, &err) != GT_OK)
        return die(err.message);

    FILE *in = fopen(in_path, "rb"), *out = fopen(out_path, "wb");
    if (!in || !out)
        return die("cannot open IN or OUT");
    for (int t = 0; t < n_tensors; t++)
        if (fread(params_data(&ps, t), sizeof(float), (size_t)numel[t], in) != (size_t)numel[t])
            return die("IN is too short (initial values)");
    for (int s = 0; s < steps; s++) {
        params_zero_grad(&ps);
        for (int t = 0; t < n_tensors; t++) {
            float *g = params_grad(&ps, t);
            if (g && fread(g, sizeof(float), (size_t)numel[t], in) != (size_t)numel[t])
                return die("IN is too short (gradients)");
        }
        double norm = clip > 0.0 ? clip_grad_norm(&ps, clip) : grad_norm(&ps);
        double step_lr = lr_at(sched, lr, s, warmup, total);
        optimizer_step(&opt, &ps, step_lr);
        fwrite(&step_lr, sizeof step_lr, 1, out);
        fwrite(&norm, sizeof norm, 1, out);
        for (int t = 0; t < n_tensors; t++)
            fwrite(params_data(&ps, t), sizeof(float), (size_t)numel[t], out);
    }
    fclose(in);
    if (fclose(out) != 0)
        return die("cannot write OUT");
    printf("skipped %llu of %llu\nstate_bytes %zu\n", (unsigned long long)opt.skipped,
           (unsigned long long)opt.considered, optimizer_state_bytes(&opt));
    optimizer_free(&opt);
    params_free(&ps);
    return 0;
}
