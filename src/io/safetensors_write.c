/* Writing safetensors files the way the reference writer does, so files are
 * byte-for-byte what the Python library would produce from the same tensors:
 * tensors sorted by dtype alignment (largest first) then name, a compact JSON
 * header ("__metadata__" first, then each tensor's dtype, shape, data_offsets)
 * padded with spaces to a multiple of 8 bytes so every tensor stays aligned. */
#include "greentune/fileio.h"
#include "greentune/safetensors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"

typedef struct {
    const gt_tensor_desc *desc;
    uint64_t nbytes;
} planned_tensor;

static int compare_planned(const void *a, const void *b)
{
    const gt_tensor_desc *x = ((const planned_tensor *)a)->desc, *y = ((const planned_tensor *)b)->desc;
    if (x->dtype != y->dtype)
        return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Checks the caller's tensors and puts them in file order with their sizes. */
static gt_status plan(planned_tensor **out, const gt_tensor_desc *tensors, size_t count, gt_error *err)
{
    *out = NULL;
    if (count > GT_SAFETENSORS_MAX_TENSORS)
        return gt_io_error(err, GT_ERR_INVALID, "%zu tensors is over the limit of %u", count,
                           GT_SAFETENSORS_MAX_TENSORS);
    planned_tensor *p = calloc(count ? count : 1, sizeof *p);
    if (!p)
        return gt_io_error(err, GT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const gt_tensor_desc *t = &tensors[i];
        const char *name = t->name ? t->name : "(null)";
        if (!t->name || !strcmp(t->name, "__metadata__") || (unsigned)t->dtype >= GT_DTYPE_COUNT ||
            t->rank < 0 || t->rank > GT_SAFETENSORS_MAX_RANK || (t->rank && !t->shape)) {
            free(p);
            return gt_io_error(err, GT_ERR_INVALID, "tensor \"%.100s\": invalid name, dtype or rank",
                               name);
        }
        uint64_t numel = 1, bits;
        int overflow = 0;
        for (int d = 0; d < t->rank; d++)
            overflow |= __builtin_mul_overflow(numel, t->shape[d], &numel);
        overflow |= __builtin_mul_overflow(numel, (uint64_t)gt_dtype_bits(t->dtype), &bits);
        if (overflow || bits % 8 || (bits && !t->data)) {
            free(p);
            return gt_io_error(err, GT_ERR_INVALID,
                               "tensor \"%.100s\": shape's byte size overflows, is not whole bytes, "
                               "or has no data",
                               name);
        }
        p[i].desc = t;
        p[i].nbytes = bits / 8;
    }
    qsort(p, count, sizeof *p, compare_planned);
    for (size_t i = 1; i < count; i++)
        if (!strcmp(p[i].desc->name, p[i - 1].desc->name)) {
            gt_io_error(err, GT_ERR_INVALID, "tensor \"%.100s\" is given twice", p[i].desc->name);
            free(p);
            return GT_ERR_INVALID;
        }
    *out = p;
    return GT_OK;
}

/* The JSON header, padded to a multiple of 8 bytes, into a malloc'd buffer. */
static gt_status build_header(char **header, size_t *header_len, const planned_tensor *p, size_t count,
                              const gt_metadata_entry *metadata, size_t metadata_count, gt_error *err)
{
    FILE *f = open_memstream(header, header_len);
    if (!f)
        return gt_io_error(err, GT_ERR_NOMEM, "out of memory");
    fputc('{', f);
    if (metadata_count) {
        gt_json_write_string(f, "__metadata__");
        fputs(":{", f);
        for (size_t i = 0; i < metadata_count; i++) {
            if (i)
                fputc(',', f);
            gt_json_write_string(f, metadata[i].key);
            fputc(':', f);
            gt_json_write_string(f, metadata[i].value);
        }
        fputc('}', f);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        const gt_tensor_desc *t = p[i].desc;
        if (i || metadata_count)
            fputc(',', f);
        gt_json_write_string(f, t->name);
        fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", gt_dtype_name(t->dtype));
        for (int d = 0; d < t->rank; d++)
            fprintf(f, d ? ",%llu" : "%llu", (unsigned long long)t->shape[d]);
        fprintf(f, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                (unsigned long long)(offset + p[i].nbytes));
        offset += p[i].nbytes;
    }
    fputc('}', f);
    long used = ftell(f);
    while (used > 0 && used % 8) {
        fputc(' ', f);
        used++;
    }
    if (fclose(f) != 0) {
        free(*header);
        *header = NULL;
        return gt_io_error(err, GT_ERR_NOMEM, "out of memory");
    }
    if (*header_len > GT_SAFETENSORS_MAX_HEADER) {
        free(*header);
        *header = NULL;
        return gt_io_error(err, GT_ERR_INVALID, "header of %zu bytes is over the %u-byte limit",
                           *header_len, GT_SAFETENSORS_MAX_HEADER);
    }
    return GT_OK;
}

static gt_status check_metadata_entries(const gt_metadata_entry *metadata, size_t count, gt_error *err)
{
    if (count > GT_SAFETENSORS_MAX_METADATA)
        return gt_io_error(err, GT_ERR_INVALID, "%zu metadata entries is over the limit of %u", count,
                           GT_SAFETENSORS_MAX_METADATA);
    for (size_t i = 0; i < count; i++)
        if (!metadata[i].key || !metadata[i].value)
            return gt_io_error(err, GT_ERR_INVALID, "metadata entry %zu has no key or value", i);
    return GT_OK;
}

/* Writes the whole file to f; returns 0 when a write failed. */
static int write_stream(FILE *f, const char *header, size_t header_len, const planned_tensor *p, size_t count)
{
    unsigned char length[8];
    for (int i = 0; i < 8; i++)
        length[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    int ok = fwrite(length, 1, 8, f) == 8 && fwrite(header, 1, header_len, f) == header_len;
    for (size_t i = 0; ok && i < count; i++)
        ok = p[i].nbytes == 0 || fwrite(p[i].desc->data, 1, (size_t)p[i].nbytes, f) == p[i].nbytes;
    return ok;
}

/* Plans and builds the header: the part both outputs share. A failure's
 * message is prefixed with label (the file, or "safetensors"). */
static gt_status prepare(planned_tensor **p, char **header, size_t *header_len, const gt_tensor_desc *tensors,
                         size_t count, const gt_metadata_entry *metadata, size_t metadata_count, const char *label,
                         gt_error *err)
{
    *header = NULL;
    gt_status status = check_metadata_entries(metadata, metadata_count, err);
    if (status == GT_OK)
        status = plan(p, tensors, count, err);
    if (status == GT_OK)
        status = build_header(header, header_len, *p, count, metadata, metadata_count, err);
    if (status != GT_OK) {
        free(*p);
        *p = NULL;
        if (err)
            gt_error_prefix(err, "%s: ", label);
    }
    return status;
}

gt_status gt_safetensors_write(const char *path, const gt_tensor_desc *tensors, size_t count,
                               const gt_metadata_entry *metadata, size_t metadata_count, gt_error *err)
{
    planned_tensor *p = NULL;
    char *header;
    size_t header_len;
    gt_status status = prepare(&p, &header, &header_len, tensors, count, metadata, metadata_count, path, err);
    if (status != GT_OK)
        return status;
    gt_atomic_file file;
    status = gt_atomic_file_open(&file, path, err);
    if (status == GT_OK) {
        if (write_stream(file.stream, header, header_len, p, count)) {
            status = gt_atomic_file_commit(&file, err);
        } else {
            status = gt_io_error(err, GT_ERR_IO, "%s: write failed: %s (the previous file, if any, is untouched)",
                                 path, strerror(errno));
            gt_atomic_file_abort(&file);
        }
    }
    free(header);
    free(p);
    return status;
}

gt_status gt_safetensors_serialize(const gt_tensor_desc *tensors, size_t count, const gt_metadata_entry *metadata,
                                   size_t metadata_count, void **data, size_t *len, gt_error *err)
{
    *data = NULL;
    *len = 0;
    planned_tensor *p = NULL;
    char *header;
    size_t header_len;
    gt_status status =
        prepare(&p, &header, &header_len, tensors, count, metadata, metadata_count, "safetensors", err);
    if (status != GT_OK)
        return status;
    char *buffer = NULL;
    size_t buffer_len = 0;
    FILE *f = open_memstream(&buffer, &buffer_len);
    int ok = f && write_stream(f, header, header_len, p, count);
    if (f && fclose(f) != 0)
        ok = 0;
    free(header);
    free(p);
    if (!ok) {
        free(buffer);
        return gt_io_error(err, GT_ERR_NOMEM, "safetensors: out of memory");
    }
    *data = buffer;
    *len = buffer_len;
    return GT_OK;
}
