/* greentune/safetensors.h — read and write Hugging Face safetensors files.
 *
 * The format: an 8-byte little-endian header length N, N bytes of a JSON object
 * (tensor name -> {"dtype", "shape", "data_offsets": [begin, end)}, plus an
 * optional "__metadata__" string->string map), then the byte buffer the offsets
 * point into. Every file is treated as hostile: the header length, the JSON, each
 * tensor's size (with overflow checks) and the offsets (contiguous, no overlap,
 * covering the whole buffer) are checked before any data is handed out.
 *
 *   gt_safetensors *st;
 *   if (gt_safetensors_open("model.safetensors", &st, &err) != GT_OK) ...
 *   const gt_tensor_info *t = gt_safetensors_find(st, "bert.pooler.dense.weight");
 *   float *w = malloc(t->numel * sizeof *w);
 *   gt_tensor_to_f32(w, t, t->numel, &err);
 *   gt_safetensors_close(st);
 *
 * Data pointers point into the mapping (valid until close). They are aligned to
 * the element size when the writer padded the header to 8 bytes (ours and the
 * reference writer do), but a hand-made file may not be: read values with memcpy
 * or gt_tensor_to_f32, which copes with any alignment. As with any mapping, a
 * file truncated by another process while open makes later reads fault
 * (SIGBUS); checkpoints written with gt_safetensors_write are replaced by
 * rename, never truncated in place, so readers of the old file are safe. */
#ifndef GREENTUNE_SAFETENSORS_H
#define GREENTUNE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "greentune/common.h"

/* Element types, in the order of increasing alignment that the reference writer
 * sorts by (the writer puts the most-aligned tensors first). */
typedef enum {
    GT_DTYPE_BOOL,
    GT_DTYPE_F4,
    GT_DTYPE_F6_E2M3,
    GT_DTYPE_F6_E3M2,
    GT_DTYPE_U8,
    GT_DTYPE_I8,
    GT_DTYPE_F8_E5M2,
    GT_DTYPE_F8_E4M3,
    GT_DTYPE_F8_E8M0,
    GT_DTYPE_F8_E4M3FNUZ,
    GT_DTYPE_F8_E5M2FNUZ,
    GT_DTYPE_I16,
    GT_DTYPE_U16,
    GT_DTYPE_F16,
    GT_DTYPE_BF16,
    GT_DTYPE_I32,
    GT_DTYPE_U32,
    GT_DTYPE_F32,
    GT_DTYPE_C64,
    GT_DTYPE_F64,
    GT_DTYPE_I64,
    GT_DTYPE_U64,
    GT_DTYPE_COUNT
} gt_dtype;

/* "F32", "BF16", ... as written in the header. */
GT_API const char *gt_dtype_name(gt_dtype dtype);
/* Parses a header dtype string; returns 0 when it is not one of the above. */
GT_API int gt_dtype_from_name(const char *name, gt_dtype *dtype);
/* Bits per element (4 and 6 for the micro-float types, else a multiple of 8). */
GT_API unsigned gt_dtype_bits(gt_dtype dtype);

/* Limits on what a file may declare; a file over them is refused, not truncated. */
#define GT_SAFETENSORS_MAX_HEADER 100000000u /* bytes, as in the reference implementation */
#define GT_SAFETENSORS_MAX_TENSORS 1000000u
#define GT_SAFETENSORS_MAX_RANK 32
#define GT_SAFETENSORS_MAX_METADATA 100000u /* __metadata__ entries */

typedef struct {
    const char *name;
    gt_dtype dtype;
    int rank;               /* 0 for a scalar (shape []) */
    const uint64_t *shape;  /* rank dimensions, outermost first (row-major) */
    uint64_t numel;         /* product of the shape (1 for a scalar, 0 for an empty tensor) */
    uint64_t nbytes;        /* data_offsets[1] - data_offsets[0] */
    uint64_t offset;        /* data_offsets[0], relative to the byte buffer */
    const void *data;       /* nbytes bytes, little-endian, row-major */
} gt_tensor_info;

typedef struct gt_safetensors gt_safetensors;

/* Maps path read-only and validates it. Every failure names the file and the
 * problem in err (e.g. "model.safetensors: tensor \"w\": data_offsets [0, 12] hold
 * 12 bytes, but F32 [2, 2] needs 16"). */
GT_API gt_status gt_safetensors_open(const char *path, gt_safetensors **out, gt_error *err);

/* The same over a buffer in memory (the fuzzing entry point). The buffer is not
 * copied and must outlive the handle; label names it in error messages. */
GT_API gt_status gt_safetensors_parse(const void *data, size_t len, const char *label,
                                      gt_safetensors **out, gt_error *err);

GT_API void gt_safetensors_close(gt_safetensors *st);

/* Tensors in file order (by data offset). */
GT_API size_t gt_safetensors_count(const gt_safetensors *st);
GT_API const gt_tensor_info *gt_safetensors_tensor(const gt_safetensors *st, size_t index);
/* By name (binary search); NULL when absent. */
GT_API const gt_tensor_info *gt_safetensors_find(const gt_safetensors *st, const char *name);

/* __metadata__ entries in header order; value of key, or NULL. */
GT_API size_t gt_safetensors_metadata_count(const gt_safetensors *st);
GT_API void gt_safetensors_metadata_at(const gt_safetensors *st, size_t index, const char **key,
                                       const char **value);
GT_API const char *gt_safetensors_metadata(const gt_safetensors *st, const char *key);

/* Header length N (the JSON, padding included) and byte-buffer length. */
GT_API uint64_t gt_safetensors_header_bytes(const gt_safetensors *st);
GT_API uint64_t gt_safetensors_data_bytes(const gt_safetensors *st);

/* Converts a F32, F64, F16 or BF16 tensor into out[0..numel), which holds
 * capacity floats. Other dtypes, or a too-small buffer, are an error. */
GT_API gt_status gt_tensor_to_f32(float *out, const gt_tensor_info *tensor, size_t capacity, gt_error *err);

/* Single-value conversions (round to nearest even; NaN stays NaN). */
GT_API float gt_bf16_to_f32(uint16_t bits);
GT_API uint16_t gt_f32_to_bf16(float value);
GT_API float gt_f16_to_f32(uint16_t bits);
GT_API uint16_t gt_f32_to_f16(float value);

/* --- writing -------------------------------------------------------------------
 * A tensor to write: data holds the tensor's bytes (numel * bits / 8). */
typedef struct {
    const char *name;
    gt_dtype dtype;
    int rank;
    const uint64_t *shape;
    const void *data;
} gt_tensor_desc;

typedef struct {
    const char *key;
    const char *value;
} gt_metadata_entry;

/* Writes the tensors (sorted as the reference writer sorts them: by dtype
 * alignment, largest first, then by name) and the metadata to path, atomically.
 * Names must be unique and not "__metadata__". */
GT_API gt_status gt_safetensors_write(const char *path, const gt_tensor_desc *tensors, size_t count,
                                      const gt_metadata_entry *metadata, size_t metadata_count,
                                      gt_error *err);

/* The same into a malloc'd buffer (*data, *len); free() it. */
GT_API gt_status gt_safetensors_serialize(const gt_tensor_desc *tensors, size_t count,
                                          const gt_metadata_entry *metadata, size_t metadata_count,
                                          void **data, size_t *len, gt_error *err);

#endif
