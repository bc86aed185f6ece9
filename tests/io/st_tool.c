/* A helper for the Python parity test (test_safetensors_parity.py): exposes the
 * C reader, writer and float conversions on the command line.
 *
 *   st_tool dump FILE         JSON: metadata, and per tensor dtype, shape, offsets,
 *                             the bytes in hex and, for float dtypes, the fp32
 *                             values from gt_tensor_to_f32 (as hex of the floats)
 *   st_tool copy IN OUT       reads IN, writes its tensors and metadata to OUT
 *   st_tool convert IN OUT    IN's F32 tensor "source" -> OUT with "bf16" and "f16"
 *                             made by gt_f32_to_bf16 / gt_f32_to_f16 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greentune/safetensors.h"

static int fail(const gt_error *err)
{
    fprintf(stderr, "st_tool: %s\n", err->message);
    return 1;
}

static char *hex(const void *data, size_t n)
{
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        sprintf(s + 2 * i, "%02x", ((const unsigned char *)data)[i]);
    s[2 * n] = '\0';
    return s;
}

static void add_hex(cJSON *obj, const char *key, const void *data, size_t n)
{
    char *s = hex(data, n);
    cJSON_AddStringToObject(obj, key, s);
    free(s);
}

static int dump(const gt_safetensors *st)
{
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "metadata");
    cJSON *list = cJSON_AddArrayToObject(root, "tensors");
    for (size_t i = 0; i < gt_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        gt_safetensors_metadata_at(st, i, &k, &v);
        cJSON_AddStringToObject(meta, k, v);
    }
    for (size_t i = 0; i < gt_safetensors_count(st); i++) {
        const gt_tensor_info *t = gt_safetensors_tensor(st, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "dtype", gt_dtype_name(t->dtype));
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t->rank; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddNumberToObject(o, "begin", (double)t->offset);
        cJSON_AddNumberToObject(o, "end", (double)(t->offset + t->nbytes));
        add_hex(o, "data", t->data, (size_t)t->nbytes);
        float *f = malloc((size_t)t->numel * sizeof *f + 1);
        gt_error err = {0};
        if (gt_tensor_to_f32(f, t, (size_t)t->numel, &err) == GT_OK)
            add_hex(o, "f32", f, (size_t)t->numel * sizeof *f);
        free(f);
        cJSON_AddItemToArray(list, o);
    }
    char *text = cJSON_PrintUnformatted(root);
    puts(text);
    free(text);
    cJSON_Delete(root);
    return 0;
}

static int copy(const gt_safetensors *st, const char *out)
{
    size_t n = gt_safetensors_count(st), m = gt_safetensors_metadata_count(st);
    gt_tensor_desc *d = calloc(n + 1, sizeof *d);
    gt_metadata_entry *meta = calloc(m + 1, sizeof *meta);
    for (size_t i = 0; i < n; i++) {
        const gt_tensor_info *t = gt_safetensors_tensor(st, i);
        d[i] = (gt_tensor_desc){t->name, t->dtype, t->rank, t->shape, t->data};
    }
    for (size_t i = 0; i < m; i++)
        gt_safetensors_metadata_at(st, i, &meta[i].key, &meta[i].value);
    gt_error err = {0};
    int rc = gt_safetensors_write(out, d, n, meta, m, &err) == GT_OK ? 0 : fail(&err);
    free(d);
    free(meta);
    return rc;
}

static int convert(const gt_safetensors *st, const char *out)
{
    const gt_tensor_info *src = gt_safetensors_find(st, "source");
    if (!src || src->dtype != GT_DTYPE_F32 || src->rank != 1) {
        fprintf(stderr, "st_tool: no 1-D F32 tensor \"source\"\n");
        return 1;
    }
    size_t n = (size_t)src->numel;
    uint16_t *bf = malloc(2 * n + 2), *h = malloc(2 * n + 2);
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, (const char *)src->data + 4 * i, 4);
        bf[i] = gt_f32_to_bf16(v);
        h[i] = gt_f32_to_f16(v);
    }
    gt_tensor_desc d[] = {{"bf16", GT_DTYPE_BF16, 1, src->shape, bf}, {"f16", GT_DTYPE_F16, 1, src->shape, h}};
    gt_error err = {0};
    int rc = gt_safetensors_write(out, d, 2, NULL, 0, &err) == GT_OK ? 0 : fail(&err);
    free(bf);
    free(h);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "dump") && argc < 4)) {
        fprintf(stderr, "usage: st_tool dump FILE | copy IN OUT | convert IN OUT\n");
        return 2;
    }
    gt_safetensors *st;
    gt_error err = {0};
    if (gt_safetensors_open(argv[2], &st, &err) != GT_OK)
        return fail(&err);
    int rc = !strcmp(argv[1], "dump") ? dump(st) : !strcmp(argv[1], "copy") ? copy(st, argv[3])
           : !strcmp(argv[1], "convert") ? convert(st, argv[3]) : 2;
    gt_safetensors_close(st);
    return rc;
}
