/* safetensors files: the 8-byte length, the JSON header, and the layout checks.
 * A file that parses must also survive a round trip: written again with
 * gt_safetensors_serialize and parsed back, it holds the same tensors (name,
 * dtype, shape, bytes) and metadata. */
#include "fuzz.h"

#include "greentune/safetensors.h"

static void check_round_trip(const gt_safetensors *st)
{
    size_t n = gt_safetensors_count(st), m = gt_safetensors_metadata_count(st);
    gt_tensor_desc *desc = calloc(n ? n : 1, sizeof *desc);
    gt_metadata_entry *meta = calloc(m ? m : 1, sizeof *meta);
    FUZZ_ASSERT(desc && meta);
    for (size_t i = 0; i < n; i++) {
        const gt_tensor_info *t = gt_safetensors_tensor(st, i);
        desc[i] = (gt_tensor_desc){t->name, t->dtype, t->rank, t->shape, t->data};
    }
    for (size_t i = 0; i < m; i++)
        gt_safetensors_metadata_at(st, i, &meta[i].key, &meta[i].value);
    void *bytes = NULL;
    size_t len = 0;
    gt_error err = {0};
    FUZZ_ASSERT(gt_safetensors_serialize(desc, n, meta, m, &bytes, &len, &err) == GT_OK);
    gt_safetensors *again = NULL;
    FUZZ_ASSERT(gt_safetensors_parse(bytes, len, "round trip", &again, &err) == GT_OK);
    FUZZ_ASSERT(gt_safetensors_count(again) == n && gt_safetensors_metadata_count(again) == m);
    for (size_t i = 0; i < n; i++) {
        const gt_tensor_info *a = gt_safetensors_tensor(st, i), *b = gt_safetensors_find(again, a->name);
        FUZZ_ASSERT(b && b->dtype == a->dtype && b->rank == a->rank && b->nbytes == a->nbytes);
        FUZZ_ASSERT(!a->rank || !memcmp(a->shape, b->shape, (size_t)a->rank * sizeof *a->shape));
        FUZZ_ASSERT(!a->nbytes || !memcmp(a->data, b->data, (size_t)a->nbytes));
    }
    for (size_t i = 0; i < m; i++) {
        const char *value = gt_safetensors_metadata(again, meta[i].key);
        FUZZ_ASSERT(value && !strcmp(value, meta[i].value));
    }
    gt_safetensors_close(again);
    free(bytes);
    free(desc);
    free(meta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gt_safetensors *st = NULL;
    gt_error err = {0};
    gt_status status = gt_safetensors_parse(data, size, "fuzz.safetensors", &st, &err);
    if (status != GT_OK) {
        FUZZ_ASSERT(!st && err.status == status);
        fuzz_check_message(err.message);
        return 0;
    }
    FUZZ_ASSERT(gt_safetensors_header_bytes(st) + gt_safetensors_data_bytes(st) + 8 == size);
    uint64_t covered = 0;
    for (size_t i = 0; i < gt_safetensors_count(st); i++) {
        const gt_tensor_info *t = gt_safetensors_tensor(st, i);
        FUZZ_ASSERT(gt_safetensors_find(st, t->name) == t);
        FUZZ_ASSERT(t->offset == covered);  /* tensors tile the buffer in file order */
        covered += t->nbytes;
        FUZZ_ASSERT((const uint8_t *)t->data + t->nbytes <= data + size);
        if (t->numel <= 4096) {
            float values[4096];
            gt_error conversion = {0};
            if (gt_tensor_to_f32(values, t, 4096, &conversion) != GT_OK)
                fuzz_check_message(conversion.message);
        }
    }
    FUZZ_ASSERT(covered == gt_safetensors_data_bytes(st));
    for (size_t i = 0; i < gt_safetensors_metadata_count(st); i++) {
        const char *key, *value;
        gt_safetensors_metadata_at(st, i, &key, &value);
        FUZZ_ASSERT(key && value && gt_safetensors_metadata(st, key));
    }
    check_round_trip(st);
    gt_safetensors_close(st);
    return 0;
}
