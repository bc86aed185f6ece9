/* Runs greentune's model on what test_model_parity.py wrote, for comparison
 * with PyTorch:
 *
 *   nn_model_driver CONFIG.json WEIGHTS.safetensors INPUTS.safetensors OUT.safetensors
 *                   [--precision fp32|bf16] [--attention standard|fused] [--fused 0|1] [--lr X] [--wd X]
 *                   [--lora RANK,ALPHA,TARGETS] [--frozen-int8 0|1] [--layer-map I,J,...]
 *
 * --lora builds the model with LoRA adapters (TARGETS: the GT_NN_LORA_* mask)
 * and reads their A and B from WEIGHTS by name; only trainable tensors get
 * "grad." and "param." outputs. --layer-map loads layer i of the (pruned)
 * CONFIG from the file's layer map[i].
 *
 * INPUTS holds "ids" (I32 [B, T]), "valid" (I32 [B]) and "labels" (I32 [B]).
 * OUT gets "logits", "loss", "grad.<HF name>" for every tensor after one
 * forward + backward, "param.<HF name>" after one AdamW step (PyTorch's
 * defaults but lr and weight decay), and the inference logits of the stepped
 * model: "infer.fp32", "infer.int8" (and "infer.bf16" when bf16 runs here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/config.h"
#include "greentune/nn.h"
#include "greentune/safetensors.h"
#include "nn/model.h"

static void die(const char *what, const gt_error *err)
{
    fprintf(stderr, "nn_model_driver: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

static int32_t *read_i32(const gt_safetensors *st, const char *name, size_t want)
{
    const gt_tensor_info *t = gt_safetensors_find(st, name);
    if (!t || t->dtype != GT_DTYPE_I32 || t->numel != want) {
        fprintf(stderr, "nn_model_driver: inputs: \"%s\" missing or not I32 with %zu values\n", name, want);
        exit(1);
    }
    int32_t *v = malloc(want * sizeof *v);
    memcpy(v, t->data, want * sizeof *v);
    return v;
}

/* Output tensors collected here, written at the end. */
typedef struct {
    gt_tensor_desc d[4096];
    uint64_t shape[4096][2];
    char *names[4096];
    void *data[4096];
    int n;
} out_file;

static void put(out_file *o, const char *prefix, const char *name, const float *x, int rank, uint64_t d0, uint64_t d1)
{
    if (o->n >= 4096)
        die("output", NULL);
    size_t n = d0 * (rank == 2 ? d1 : 1), len = strlen(prefix) + strlen(name) + 1;
    o->names[o->n] = malloc(len);
    snprintf(o->names[o->n], len, "%s%s", prefix, name);
    o->data[o->n] = malloc(n * sizeof(float));
    memcpy(o->data[o->n], x, n * sizeof(float));
    o->shape[o->n][0] = d0;
    o->shape[o->n][1] = d1;
    o->d[o->n] = (gt_tensor_desc){.name = o->names[o->n], .dtype = GT_DTYPE_F32, .rank = rank,
                                  .shape = o->shape[o->n], .data = o->data[o->n]};
    o->n++;
}

/* Every trainable HF tensor of the model's parameters (grad = 0) or gradients
 * (grad = 1), then the LoRA adapters'. */
static void put_tensors(out_file *o, const gt_nn_model *m, const char *prefix, int grad)
{
    model_hf_tensor list[2048];
    int n = model_hf_tensors(m, list, 2048);
    for (int i = 0; i < n; i++) {
        const param_tensor *t = &m->params.tensors[list[i].index];
        const float *base = grad ? params_grad(&m->params, list[i].index) : params_data(&m->params, list[i].index);
        if (!t->trainable)
            continue;
        size_t row = t->numel / (size_t)t->shape[0];
        put(o, prefix, list[i].name, base + (size_t)list[i].row0 * row, t->ndim, (uint64_t)list[i].rows,
            t->ndim == 2 ? (uint64_t)t->shape[1] : 0);
    }
    for (int i = m->base_tensors; i < m->params.count; i++) {
        const param_tensor *t = &m->params.tensors[i];
        put(o, prefix, t->name, grad ? params_grad(&m->params, i) : params_data(&m->params, i), 2,
            (uint64_t)t->shape[0], (uint64_t)t->shape[1]);
    }
}

/* The adapters' A and B from the weights file, by name. */
static void load_adapters(gt_nn_model *m, const char *path)
{
    gt_safetensors *st;
    gt_error err = {0};
    if (gt_safetensors_open(path, &st, &err) != GT_OK)
        die(path, &err);
    for (int i = m->base_tensors; i < m->params.count; i++) {
        const param_tensor *t = &m->params.tensors[i];
        const gt_tensor_info *f = gt_safetensors_find(st, t->name);
        if (!f || f->numel != t->numel || gt_tensor_to_f32(params_data(&m->params, i), f, t->numel, &err) != GT_OK)
            die(t->name, f ? &err : NULL);
    }
    gt_safetensors_close(st);
    params_touch(&m->params);
}

/* "a,b,c" into at most cap ints; returns the count. */
static int int_list(const char *text, int *out, int cap)
{
    int n = 0;
    for (const char *p = text; *p && n < cap; p++) {
        out[n++] = (int)strtol(p, (char **)&p, 10);
        if (!*p)
            break;
    }
    return n;
}

static void infer(out_file *o, gt_nn_model *m, gt_nn_precision p, const char *name, const int32_t *ids,
                  const int32_t *valid, int B, int T, float *logits)
{
    gt_error err = {0};
    gt_nn_options opt = gt_nn_model_options(m);
    opt.infer_precision = p;
    if (gt_nn_model_set_options(m, &opt, &err) != GT_OK || gt_nn_infer(m, ids, valid, B, T, logits, &err) != GT_OK)
        die(name, &err);
    put(o, "", name, logits, 2, (uint64_t)B, (uint64_t)m->cfg.num_labels);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: nn_model_driver CONFIG.json WEIGHTS INPUTS OUT [--precision P] [--attention A] "
                        "[--lr X] [--wd X]\n");
        return 2;
    }
    gt_nn_precision precision = GT_NN_FP32;
    gt_nn_attention attention = GT_NN_ATTN_STANDARD;
    double lr = 1e-3, wd = 0.01;
    int fused = 0, frozen_int8 = 0, map[1024], n_map = 0;
    gt_nn_lora lora = {0};
    gt_error err = {0};
    for (int i = 5; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--precision") && gt_nn_precision_parse(argv[i + 1], &precision, &err) != GT_OK)
            die("--precision", &err);
        if (!strcmp(argv[i], "--attention"))
            attention = !strcmp(argv[i + 1], "fused") ? GT_NN_ATTN_FUSED : GT_NN_ATTN_STANDARD;
        if (!strcmp(argv[i], "--fused"))
            fused = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--lr"))
            lr = atof(argv[i + 1]);
        if (!strcmp(argv[i], "--wd"))
            wd = atof(argv[i + 1]);
        if (!strcmp(argv[i], "--frozen-int8"))
            frozen_int8 = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--layer-map"))
            n_map = int_list(argv[i + 1], map, 1024);
        if (!strcmp(argv[i], "--lora")) {
            int v[3] = {0};
            double alpha = 0;
            if (sscanf(argv[i + 1], "%d,%lf,%d", &v[0], &alpha, &v[2]) != 3)
                die("--lora RANK,ALPHA,TARGETS", NULL);
            lora = (gt_nn_lora){.rank = v[0], .alpha = (float)alpha, .targets = (unsigned)v[2]};
        }
    }

    gt_config *json;
    gt_nn_config cfg;
    if (gt_config_load(argv[1], &json, &err) != GT_OK || gt_nn_config_from_hf(json, &cfg, &err) != GT_OK)
        die(argv[1], &err);
    gt_config_free(json);
    gt_nn_model *m;
    if (n_map && n_map != cfg.layers)
        die("--layer-map: one source layer per layer of CONFIG", NULL);
    if (gt_nn_model_create_lora(&cfg, &lora, 1, &m, &err) != GT_OK ||
        gt_nn_model_load_layers(m, argv[2], n_map ? map : NULL, 1, NULL, &err) != GT_OK)
        die("model", &err);
    if (lora.rank)
        load_adapters(m, argv[2]);
    gt_nn_options opt = {.train_precision = precision, .infer_precision = GT_NN_FP32, .attention = attention,
                         .fused = fused, .frozen_int8 = frozen_int8};
    if (gt_nn_model_set_options(m, &opt, &err) != GT_OK)
        die("options", &err);

    gt_safetensors *in;
    if (gt_safetensors_open(argv[3], &in, &err) != GT_OK)
        die(argv[3], &err);
    const gt_tensor_info *ids_t = gt_safetensors_find(in, "ids");
    if (!ids_t || ids_t->rank != 2)
        die("inputs: ids", NULL);
    int B = (int)ids_t->shape[0], T = (int)ids_t->shape[1];
    int32_t *ids = read_i32(in, "ids", (size_t)B * T), *valid = read_i32(in, "valid", (size_t)B);
    int32_t *labels = read_i32(in, "labels", (size_t)B);
    gt_safetensors_close(in);

    static out_file o;
    float *logits = malloc(sizeof(float) * (size_t)B * cfg.num_labels), loss;
    gt_nn_optimizer_config oc;
    if (gt_nn_optimizer_defaults("adamw", &oc, &err) != GT_OK)
        die("optimizer", &err);
    oc.weight_decay = wd;
    gt_nn_zero_grad(m);
    if (gt_nn_forward(m, ids, valid, labels, B, T, logits, &loss, &err) != GT_OK ||
        gt_nn_backward(m, 1.0f, &err) != GT_OK)
        die("forward/backward", &err);
    put(&o, "", "logits", logits, 2, (uint64_t)B, (uint64_t)cfg.num_labels);
    put(&o, "", "loss", &loss, 1, 1, 0);
    put_tensors(&o, m, "grad.", 1);
    if (gt_nn_model_set_optimizer(m, &oc, &err) != GT_OK || gt_nn_step(m, lr, 0, NULL, &err) != GT_OK)
        die("step", &err);
    put_tensors(&o, m, "param.", 0);

    infer(&o, m, GT_NN_FP32, "infer.fp32", ids, valid, B, T, logits);
    infer(&o, m, GT_NN_INT8, "infer.int8", ids, valid, B, T, logits);
    if (gt_nn_check_precision(GT_NN_BF16, NULL, NULL) == GT_OK)
        infer(&o, m, GT_NN_BF16, "infer.bf16", ids, valid, B, T, logits);

    if (gt_safetensors_write(argv[4], o.d, (size_t)o.n, NULL, 0, &err) != GT_OK)
        die(argv[4], &err);
    for (int i = 0; i < o.n; i++) {
        free(o.names[i]);
        free(o.data[i]);
    }
    free(ids);
    free(valid);
    free(labels);
    free(logits);
    gt_nn_model_free(m);
    return 0;
}
