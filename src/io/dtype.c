/* Element types of safetensors files and the float conversions the engine needs
 * (BF16 and F16 checkpoints are read into fp32, and written from it). */
#include "greentune/safetensors.h"

#include <math.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

static const struct {
    const char *name;
    unsigned bits;
} dtypes[GT_DTYPE_COUNT] = {
    [GT_DTYPE_BOOL] = {"BOOL", 8},
    [GT_DTYPE_F4] = {"F4", 4},
    [GT_DTYPE_F6_E2M3] = {"F6_E2M3", 6},
    [GT_DTYPE_F6_E3M2] = {"F6_E3M2", 6},
    [GT_DTYPE_U8] = {"U8", 8},
    [GT_DTYPE_I8] = {"I8", 8},
    [GT_DTYPE_F8_E5M2] = {"F8_E5M2", 8},
    [GT_DTYPE_F8_E4M3] = {"F8_E4M3", 8},
    [GT_DTYPE_F8_E8M0] = {"F8_E8M0", 8},
    [GT_DTYPE_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [GT_DTYPE_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
    [GT_DTYPE_I16] = {"I16", 16},
    [GT_DTYPE_U16] = {"U16", 16},
    [GT_DTYPE_F16] = {"F16", 16},
    [GT_DTYPE_BF16] = {"BF16", 16},
    [GT_DTYPE_I32] = {"I32", 32},
    [GT_DTYPE_U32] = {"U32", 32},
    [GT_DTYPE_F32] = {"F32", 32},
    [GT_DTYPE_C64] = {"C64", 64},
    [GT_DTYPE_F64] = {"F64", 64},
    [GT_DTYPE_I64] = {"I64", 64},
    [GT_DTYPE_U64] = {"U64", 64},
};

const char *gt_dtype_name(gt_dtype dtype)
{
    return (unsigned)dtype < GT_DTYPE_COUNT ? dtypes[dtype].name : "?";
}

unsigned gt_dtype_bits(gt_dtype dtype)
{
    return (unsigned)dtype < GT_DTYPE_COUNT ? dtypes[dtype].bits : 0;
}

int gt_dtype_from_name(const char *name, gt_dtype *dtype)
{
    for (int i = 0; i < GT_DTYPE_COUNT; i++)
        if (!strcmp(name, dtypes[i].name)) {
            *dtype = (gt_dtype)i;
            return 1;
        }
    return 0;
}

static uint32_t f32_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static float f32_from_bits(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

float gt_bf16_to_f32(uint16_t bits)
{
    return f32_from_bits((uint32_t)bits << 16);
}

uint16_t gt_f32_to_bf16(float value)
{
    uint32_t x = f32_bits(value);
    if (isnan(value))
        return 0x7FC0; /* the canonical quiet NaN, as PyTorch produces */
    /* Adding 0x7FFF plus the lowest kept bit rounds half to even; a carry out of
     * the mantissa correctly bumps the exponent (and turns the largest finite
     * values into infinity). */
    uint32_t bias = 0x7FFF + ((x >> 16) & 1);
    return (uint16_t)((x + bias) >> 16);
}

float gt_f16_to_f32(uint16_t bits)
{
    uint32_t sign = (uint32_t)(bits & 0x8000) << 16;
    uint32_t exponent = (bits >> 10) & 0x1F;
    uint32_t mantissa = bits & 0x3FF;
    if (exponent == 0) {
        /* Zero or subnormal: mantissa * 2^-24, exactly representable in fp32. */
        float magnitude = ldexpf((float)mantissa, -24);
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31)
        return f32_from_bits(sign | 0x7F800000u | (mantissa << 13));
    return f32_from_bits(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

/* Shifts m right by shift bits, rounding half to even. */
static uint32_t shift_round_even(uint32_t m, unsigned shift)
{
    uint32_t kept = m >> shift;
    uint32_t rest = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1)))
        kept++;
    return kept;
}

uint16_t gt_f32_to_f16(float value)
{
    uint32_t x = f32_bits(value);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    int exponent = (int)((x >> 23) & 0xFF);
    uint32_t mantissa = x & 0x7FFFFF;
    if (exponent == 0xFF)
        return sign | (mantissa ? 0x7E00 : 0x7C00);
    if (exponent == 0)
        return sign; /* fp32 zeros and subnormals are far below the smallest half */
    int half_exponent = exponent - 127 + 15;
    if (half_exponent >= 31)
        return sign | 0x7C00;
    if (half_exponent >= 1) {
        /* A carry out of the 10 mantissa bits moves into the exponent, which is
         * the right result, up to and including infinity (0x7C00). */
        uint32_t rounded = shift_round_even(((uint32_t)half_exponent << 23) | mantissa, 13);
        return sign | (uint16_t)rounded;
    }
    /* Subnormal half: value = (mantissa | 1<<23) * 2^(exponent-150), in units of
     * 2^-24 that is a right shift by 14 - half_exponent. */
    unsigned shift = (unsigned)(14 - half_exponent);
    if (shift > 24)
        return sign;
    return sign | (uint16_t)shift_round_even(mantissa | 0x800000u, shift);
}

gt_status gt_tensor_to_f32(float *out, const gt_tensor_info *tensor, size_t capacity, gt_error *err)
{
    if (tensor->numel > capacity)
        return gt_error_set(err, GT_ERR_INVALID, "tensor \"%s\": %llu values do not fit a buffer of %zu",
                            tensor->name, (unsigned long long)tensor->numel, capacity);
    const unsigned char *p = tensor->data;
    size_t n = (size_t)tensor->numel;
    /* memcpy per element: the data may sit at any alignment in the mapping. */
    switch (tensor->dtype) {
    case GT_DTYPE_F32:
        if (n)
            memcpy(out, p, n * sizeof(float));
        return GT_OK;
    case GT_DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, p + 8 * i, sizeof v);
            out[i] = (float)v;
        }
        return GT_OK;
    case GT_DTYPE_BF16:
    case GT_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t v;
            memcpy(&v, p + 2 * i, sizeof v);
            out[i] = tensor->dtype == GT_DTYPE_BF16 ? gt_bf16_to_f32(v) : gt_f16_to_f32(v);
        }
        return GT_OK;
    default:
        return gt_error_set(err, GT_ERR_UNSUPPORTED,
                            "tensor \"%s\": dtype %s is not a float type that can be read as fp32 "
                            "(F32, F64, F16 and BF16 can)",
                            tensor->name, gt_dtype_name(tensor->dtype));
    }
}
