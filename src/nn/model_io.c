/* Model weights in safetensors files, by Hugging Face names.
 *
 * Most parameters are stored under their HF names already; bert's
 * query/key/value are one packed (3C, C) block inside the engine, exported and
 * imported as three row blocks. Loading checks every tensor (presence, dtype,
 * shape) before it copies any, so a bad file leaves the model unchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/safetensors.h"
#include "nn/cuda/gpu.h"
#include "nn/model.h"

static const char *const qkv_parts[3] = {"query", "key", "value"};

int model_hf_tensors(const gt_nn_model *m, model_hf_tensor *out, int cap)
{
    int n = 0;
    for (int i = 0; i < m->base_tensors; i++) {   /* LoRA adapters are not HF tensors */
        const param_tensor *t = &m->params.tensors[i];
        const char *packed = strstr(t->name, ".attention.self.qkv.");
        int parts = packed ? 3 : 1;
        for (int k = 0; k < parts; k++, n++) {
            if (n >= cap)
                continue;
            model_hf_tensor *h = &out[n];
            h->index = i;
            h->rows = t->shape[0] / parts;
            h->row0 = k * h->rows;
            if (packed)   /* "...attention.self." + "query" + ".weight" */
                snprintf(h->name, sizeof h->name, "%.*s.%s%s", (int)(packed - t->name + 15), t->name, qkv_parts[k],
                         packed + 19);
            else
                snprintf(h->name, sizeof h->name, "%s", t->name);
        }
    }
    return n;
}

/* "[3, 4]" */
static void shape_text(char *buf, size_t cap, int rank, const int64_t *dims)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

/* The HF tensor's expected shape: the parameter's, with dim 0 cut to its rows. */
static int expected_shape(const gt_nn_model *m, const model_hf_tensor *h, int64_t *dims)
{
    const param_tensor *t = &m->params.tensors[h->index];
    for (int d = 0; d < t->ndim; d++)
        dims[d] = t->shape[d];
    dims[0] = h->rows;
    return t->ndim;
}

/* The name of layer map[i]'s tensor for layer i's ("bert.encoder.layer.3." or
 * "model.layers.3." with 3 replaced), or name itself. */
static const char *mapped_name(const char *name, const int *map, char *buf, size_t size)
{
    static const char *const layer_prefixes[] = {"bert.encoder.layer.", "model.layers."};
    for (size_t i = 0; map && i < sizeof layer_prefixes / sizeof layer_prefixes[0]; i++) {
        size_t n = strlen(layer_prefixes[i]);
        if (strncmp(name, layer_prefixes[i], n))
            continue;
        char *end;
        long layer = strtol(name + n, &end, 10);
        snprintf(buf, size, "%.*s%d%s", (int)n, name, map[layer], end);
        return buf;
    }
    return name;
}

/* The file's tensor for an HF name: as named, or without the base model's
 * prefix (HF saves BertModel / ModernBertModel alone that way). */
static const gt_tensor_info *find_tensor(const gt_safetensors *st, const char *model_name, const int *map)
{
    char buf[PARAM_NAME_MAX + 16];
    const char *name = mapped_name(model_name, map, buf, sizeof buf);
    const gt_tensor_info *t = gt_safetensors_find(st, name);
    static const char *const prefixes[] = {"bert.", "model."};
    for (size_t i = 0; !t && i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            t = gt_safetensors_find(st, name + strlen(prefixes[i]));
    return t;
}

static gt_status check_tensor(const gt_nn_model *m, const model_hf_tensor *h, const gt_tensor_info *t,
                              const char *path, gt_error *err)
{
    int64_t want[PARAM_MAX_DIMS];
    int rank = expected_shape(m, h, want);
    int same = t->rank == rank;
    for (int d = 0; same && d < rank; d++)
        same = (int64_t)t->shape[d] == want[d];
    if (!same) {
        int64_t got[GT_SAFETENSORS_MAX_RANK];
        for (int d = 0; d < t->rank; d++)
            got[d] = (int64_t)t->shape[d];
        char a[96], b[96];
        shape_text(a, sizeof a, t->rank, got);
        shape_text(b, sizeof b, rank, want);
        return gt_error_set(err, GT_ERR_INVALID,
                            "%s: tensor \"%s\" has shape %s, the model expects %s (check config.json against "
                            "the weights)", path, h->name, a, b);
    }
    if (t->dtype != GT_DTYPE_F32 && t->dtype != GT_DTYPE_BF16 && t->dtype != GT_DTYPE_F16 &&
        t->dtype != GT_DTYPE_F64)
        return gt_error_set(err, GT_ERR_UNSUPPORTED, "%s: tensor \"%s\" is %s (need F32, BF16, F16 or F64)", path,
                            h->name, gt_dtype_name(t->dtype));
    return GT_OK;
}

static gt_status load_tensors(gt_nn_model *m, const gt_safetensors *st, const model_hf_tensor *list, int n,
                              const int *map, const char *path, int strict, gt_nn_load_report *rep, gt_error *err)
{
    for (int i = 0; i < n; i++) {
        const gt_tensor_info *t = find_tensor(st, list[i].name, map);
        if (!t) {
            if (strict)
                return gt_error_set(err, GT_ERR_NOT_FOUND, "%s: tensor \"%s\" is missing (not a %s checkpoint, or "
                                    "a different architecture)", path, list[i].name, gt_nn_arch_name(m->cfg.arch));
            if (!rep->missing++)
                snprintf(rep->first_missing, sizeof rep->first_missing, "%s", list[i].name);
            continue;
        }
        gt_status s = check_tensor(m, &list[i], t, path, err);
        if (s != GT_OK)
            return s;
    }
    for (int i = 0; i < n; i++) {
        const gt_tensor_info *t = find_tensor(st, list[i].name, map);
        if (!t)
            continue;
        const param_tensor *p = &m->params.tensors[list[i].index];
        size_t row = p->numel / (size_t)p->shape[0];
        float *dst = model_data(m, list[i].index) + (size_t)list[i].row0 * row;
        gt_status s = gt_tensor_to_f32(dst, t, (size_t)list[i].rows * row, err);
        if (s != GT_OK)
            return gt_error_prefix(err, "%s: ", path);
        rep->loaded++;
    }
    size_t in_file = gt_safetensors_count(st);
    rep->unused = (int)(in_file > (size_t)rep->loaded ? in_file - (size_t)rep->loaded : 0);
    return GT_OK;
}

gt_status gt_nn_model_load(gt_nn_model *m, const char *path, int strict, gt_nn_load_report *report, gt_error *err)
{
    return gt_nn_model_load_layers(m, path, NULL, strict, report, err);
}

gt_status gt_nn_model_load_layers(gt_nn_model *m, const char *path, const int *layer_map, int strict,
                                  gt_nn_load_report *report, gt_error *err)
{
    for (int i = 0; layer_map && i < m->cfg.layers; i++)
        if (layer_map[i] < 0 || layer_map[i] > 99999)
            return gt_error_set(err, GT_ERR_INVALID, "%s: layer map entry %d is %d (a layer index of the file)", path, i,
                                layer_map[i]);
    gt_nn_load_report local;
    gt_nn_load_report *rep = report ? report : &local;
    memset(rep, 0, sizeof *rep);
    gt_safetensors *st;
    /* on a GPU, tensors the file lacks keep the device's newest values */
    gt_status s = m->gpu ? gpu_sync_host(m, err) : GT_OK;
    if (s == GT_OK)
        s = gt_safetensors_open(path, &st, err);
    if (s != GT_OK)
        return s;
    int n = model_hf_tensors(m, NULL, 0);
    model_hf_tensor *list = nn_alloc((size_t)n * sizeof *list);
    if (!list) {
        gt_safetensors_close(st);
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
    }
    model_hf_tensors(m, list, n);
    s = load_tensors(m, st, list, n, layer_map, path, strict, rep, err);
    if (s == GT_OK && rep->loaded == 0)
        s = gt_error_set(err, GT_ERR_NOT_FOUND, "%s: no tensor of a %s model in the file (first expected: \"%s\")",
                         path, gt_nn_arch_name(m->cfg.arch), list[0].name);
    nn_free(list);
    gt_safetensors_close(st);
    params_touch(&m->params);
    return s;
}

gt_status gt_nn_model_save(const gt_nn_model *m, const char *path, gt_error *err)
{
    /* the weights live on the GPU: bring the host copy up to date (logically const) */
    if (m->gpu) {
        gt_status synced = gpu_sync_host((gt_nn_model *)m, err);
        if (synced != GT_OK)
            return synced;
    }
    int n = model_hf_tensors(m, NULL, 0);
    model_hf_tensor *list = nn_alloc((size_t)n * sizeof *list);
    gt_tensor_desc *desc = nn_alloc((size_t)n * sizeof *desc);
    uint64_t(*shapes)[PARAM_MAX_DIMS] = nn_alloc((size_t)n * sizeof *shapes);
    float **merged = nn_alloc((size_t)n * sizeof *merged);
    gt_status s = GT_OK;
    if (!list || !desc || !shapes || !merged) {
        s = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
    } else {
        model_hf_tensors(m, list, n);
        for (int i = 0; i < n && s == GT_OK; i++) {
            const param_tensor *p = &m->params.tensors[list[i].index];
            int64_t dims[PARAM_MAX_DIMS];
            int rank = expected_shape(m, &list[i], dims);
            for (int d = 0; d < rank; d++)
                shapes[i][d] = (uint64_t)dims[d];
            size_t row = p->numel / (size_t)p->shape[0];
            const float *data = model_data(m, list[i].index) + (size_t)list[i].row0 * row;
            /* LoRA: the checkpoint holds W + B A (alpha / r), a plain model for HF */
            if (lora_merged_rows(m, list[i].index, list[i].row0, list[i].rows, NULL)) {
                if (!(merged[i] = nn_alloc((size_t)list[i].rows * row * sizeof(float))))
                    s = gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
                else
                    data = merged[i];
                lora_merged_rows(m, list[i].index, list[i].row0, list[i].rows, merged[i]);
            }
            desc[i] = (gt_tensor_desc){.name = list[i].name, .dtype = GT_DTYPE_F32, .rank = rank,
                                       .shape = shapes[i], .data = data};
        }
    }
    if (s == GT_OK) {
        /* transformers refuses safetensors files without a "format" entry */
        gt_metadata_entry meta = {"format", "pt"};
        s = gt_safetensors_write(path, desc, (size_t)n, &meta, 1, err);
    }
    for (int i = 0; merged && i < n; i++)
        nn_free(merged[i]);
    nn_free(merged);
    nn_free(list);
    nn_free(desc);
    nn_free(shapes);
    return s;
}
