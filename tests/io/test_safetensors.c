/* safetensors: what the writer produces is what the format says, what the reader
 * accepts is exactly what the format allows, and hostile files get one clear line. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "greentune/safetensors.h"
#include "test_support.h"

/* A valid file in memory: the reader must give back every byte. */
static gt_safetensors *parse_or_fail(const void *data, size_t len)
{
    gt_error err = {0};
    gt_safetensors *st = NULL;
    if (gt_safetensors_parse(data, len, "mem", &st, &err) != GT_OK)
        test_fail(__FILE__, __LINE__, "parse failed: %s", err.message);
    return st;
}

/* The smallest whole number of elements of a dtype that fills whole bytes. */
static uint64_t whole_bytes_numel(gt_dtype dtype)
{
    unsigned bits = gt_dtype_bits(dtype);
    return bits == 4 ? 2 : bits == 6 ? 4 : 1;
}

static void test_round_trip_every_dtype_with_metadata(void)
{
    enum { MAX_BYTES = 64 };
    static unsigned char bytes[GT_DTYPE_COUNT][MAX_BYTES];
    uint64_t shapes[GT_DTYPE_COUNT][2];
    char names[GT_DTYPE_COUNT][32];
    gt_tensor_desc tensors[GT_DTYPE_COUNT];
    for (int d = 0; d < GT_DTYPE_COUNT; d++) {
        shapes[d][0] = 3;
        shapes[d][1] = whole_bytes_numel((gt_dtype)d);
        for (int i = 0; i < MAX_BYTES; i++)
            bytes[d][i] = (unsigned char)(d * 31 + i * 7);
        snprintf(names[d], sizeof names[d], "t.%s", gt_dtype_name((gt_dtype)d));
        tensors[d] = (gt_tensor_desc){names[d], (gt_dtype)d, 2, shapes[d], bytes[d]};
    }
    gt_metadata_entry meta[] = {{"format", "pt"}, {"note", "quote \" and\nnewline"}};
    void *file;
    size_t len;
    gt_error err = {0};
    CHECK_EQ_INT(gt_safetensors_serialize(tensors, GT_DTYPE_COUNT, meta, 2, &file, &len, &err), GT_OK);
    gt_safetensors *st = parse_or_fail(file, len);
    if (!st)
        return;
    CHECK_EQ_INT(gt_safetensors_count(st), GT_DTYPE_COUNT);
    for (int d = 0; d < GT_DTYPE_COUNT; d++) {
        const gt_tensor_info *t = gt_safetensors_find(st, names[d]);
        CHECK_MSG(t != NULL, "tensor %s missing", names[d]);
        if (!t)
            continue;
        uint64_t expect = 3 * whole_bytes_numel((gt_dtype)d) * gt_dtype_bits((gt_dtype)d) / 8;
        CHECK_EQ_INT(t->dtype, d);
        CHECK_EQ_INT(t->rank, 2);
        CHECK_EQ_INT(t->shape[0], 3);
        CHECK_EQ_INT(t->nbytes, expect);
        CHECK(memcmp(t->data, bytes[d], expect) == 0);
        /* Padded header + most-aligned first: every tensor is aligned in the file. */
        unsigned align = gt_dtype_bits((gt_dtype)d) >= 8 ? gt_dtype_bits((gt_dtype)d) / 8 : 1;
        CHECK_EQ_INT((8 + gt_safetensors_header_bytes(st) + t->offset) % align, 0);
    }
    CHECK_EQ_STR(gt_safetensors_metadata(st, "format"), "pt");
    CHECK_EQ_STR(gt_safetensors_metadata(st, "note"), "quote \" and\nnewline");
    CHECK(gt_safetensors_metadata(st, "absent") == NULL);
    CHECK(gt_safetensors_find(st, "t.nope") == NULL);
    CHECK_EQ_INT(gt_safetensors_header_bytes(st) % 8, 0);
    gt_safetensors_close(st);
    free(file);
}

static void test_scalar_and_empty_tensors(void)
{
    float scalar = 2.5f;
    uint64_t empty_shape[] = {0, 7};
    gt_tensor_desc tensors[] = {
        {"scalar", GT_DTYPE_F32, 0, NULL, &scalar},
        {"empty", GT_DTYPE_F32, 2, empty_shape, NULL},
    };
    void *file;
    size_t len;
    gt_error err = {0};
    CHECK_EQ_INT(gt_safetensors_serialize(tensors, 2, NULL, 0, &file, &len, &err), GT_OK);
    gt_safetensors *st = parse_or_fail(file, len);
    if (!st)
        return;
    const gt_tensor_info *s = gt_safetensors_find(st, "scalar"), *e = gt_safetensors_find(st, "empty");
    CHECK(s && e);
    if (s && e) {
        CHECK_EQ_INT(s->rank, 0);
        CHECK_EQ_INT(s->numel, 1);
        CHECK_EQ_INT(s->nbytes, 4);
        float v;
        CHECK_EQ_INT(gt_tensor_to_f32(&v, s, 1, &err), GT_OK);
        CHECK_NEAR(v, 2.5, 0);
        CHECK_EQ_INT(e->numel, 0);
        CHECK_EQ_INT(e->nbytes, 0);
        CHECK_EQ_INT(e->shape[1], 7);
    }
    CHECK_EQ_INT(gt_safetensors_data_bytes(st), 4);
    CHECK_EQ_INT(gt_safetensors_metadata_count(st), 0);
    gt_safetensors_close(st);
    free(file);
}

/* Builds the expected file from the format description: length, JSON, padding, data. */
static void check_exact_bytes(const gt_tensor_desc *tensors, size_t count, const gt_metadata_entry *meta,
                              size_t meta_count, const char *json, const void *data, size_t data_len)
{
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    size_t expect_len = 8 + padded + data_len;
    unsigned char *expect = malloc(expect_len);
    for (int i = 0; i < 8; i++)
        expect[i] = (unsigned char)(padded >> (8 * i));
    memcpy(expect + 8, json, n);
    memset(expect + 8 + n, ' ', padded - n);
    if (data_len)
        memcpy(expect + 8 + padded, data, data_len);
    void *file;
    size_t len;
    gt_error err = {0};
    CHECK_EQ_INT(gt_safetensors_serialize(tensors, count, meta, meta_count, &file, &len, &err), GT_OK);
    CHECK_EQ_INT(len, expect_len);
    CHECK_MSG(len == expect_len && memcmp(file, expect, len) == 0, "bytes differ for header %s", json);
    free(file);
    free(expect);
}

static void test_writer_bytes_follow_the_format(void)
{
    float values[] = {0, 1, 2, 3, 4, 5};
    uint64_t shape3[] = {1, 2, 3}, shape4[] = {1, 1, 2, 3};
    gt_tensor_desc a = {"attn.0", GT_DTYPE_F32, 3, shape3, values};
    /* 64 bytes of JSON: no padding needed. */
    check_exact_bytes(&a, 1, NULL, 0, "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}",
                      values, sizeof values);
    /* 65 bytes: seven spaces of padding keep the data 8-byte aligned. */
    gt_tensor_desc b = {"attn0", GT_DTYPE_F32, 4, shape4, values};
    check_exact_bytes(&b, 1, NULL, 0, "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}",
                      values, sizeof values);
    check_exact_bytes(NULL, 0, NULL, 0, "{}", NULL, 0);
    gt_metadata_entry meta = {"framework", "pt"};
    check_exact_bytes(NULL, 0, &meta, 1, "{\"__metadata__\":{\"framework\":\"pt\"}}", NULL, 0);
}

static void test_writer_orders_by_alignment_then_name(void)
{
    uint64_t one[] = {1};
    uint64_t data = 0;
    gt_tensor_desc tensors[] = {
        {"b", GT_DTYPE_F16, 1, one, &data}, {"z", GT_DTYPE_I8, 1, one, &data},
        {"a", GT_DTYPE_F16, 1, one, &data}, {"c", GT_DTYPE_F64, 1, one, &data},
        {"d", GT_DTYPE_I64, 1, one, &data}, {"e", GT_DTYPE_BOOL, 1, one, &data},
    };
    const char *expect[] = {"d", "c", "a", "b", "z", "e"};
    void *file;
    size_t len;
    gt_error err = {0};
    CHECK_EQ_INT(gt_safetensors_serialize(tensors, 6, NULL, 0, &file, &len, &err), GT_OK);
    gt_safetensors *st = parse_or_fail(file, len);
    for (size_t i = 0; st && i < 6; i++)
        CHECK_EQ_STR(gt_safetensors_tensor(st, i)->name, expect[i]);
    gt_safetensors_close(st);
    free(file);
}

static void test_writer_refuses_bad_tensors(void)
{
    uint64_t one[] = {1}, three[] = {3}, huge[] = {UINT64_C(1) << 62, 8};
    float v[4] = {0};
    gt_error err = {0};
    void *file;
    size_t len;
    gt_tensor_desc dup[] = {{"w", GT_DTYPE_F32, 1, one, v}, {"w", GT_DTYPE_F32, 1, one, v}};
    CHECK_EQ_INT(gt_safetensors_serialize(dup, 2, NULL, 0, &file, &len, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "\"w\" is given twice") != NULL);
    gt_tensor_desc reserved = {"__metadata__", GT_DTYPE_F32, 1, one, v};
    CHECK_EQ_INT(gt_safetensors_serialize(&reserved, 1, NULL, 0, &file, &len, &err), GT_ERR_INVALID);
    gt_tensor_desc overflow = {"w", GT_DTYPE_F32, 2, huge, v};
    CHECK_EQ_INT(gt_safetensors_serialize(&overflow, 1, NULL, 0, &file, &len, &err), GT_ERR_INVALID);
    gt_tensor_desc partial = {"w", GT_DTYPE_F4, 1, three, v};
    CHECK_EQ_INT(gt_safetensors_serialize(&partial, 1, NULL, 0, &file, &len, &err), GT_ERR_INVALID);
}

static void test_write_file_is_atomic_and_mapped_back(void)
{
    const char *path = test_path("model.safetensors");
    uint64_t shape[] = {2};
    float v[] = {1.5f, -2.0f};
    gt_tensor_desc t = {"w", GT_DTYPE_F32, 1, shape, v};
    gt_error err = {0};
    CHECK_EQ_INT(gt_safetensors_write(path, &t, 1, NULL, 0, &err), GT_OK);
    size_t before_len;
    char *before = test_read_file(path, &before_len);
    /* A failed write (duplicate names) leaves the previous file as it was. */
    gt_tensor_desc dup[] = {t, t};
    CHECK_EQ_INT(gt_safetensors_write(path, dup, 2, NULL, 0, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, path) != NULL);
    size_t after_len;
    char *after = test_read_file(path, &after_len);
    CHECK(before && after && before_len == after_len && memcmp(before, after, after_len) == 0);
    free(before);
    free(after);

    gt_safetensors *st = NULL;
    CHECK_EQ_INT(gt_safetensors_open(path, &st, &err), GT_OK);
    const gt_tensor_info *w = st ? gt_safetensors_find(st, "w") : NULL;
    CHECK(w != NULL);
    if (w) {
        float back[2];
        CHECK_EQ_INT(gt_tensor_to_f32(back, w, 2, &err), GT_OK);
        CHECK_NEAR(back[0], 1.5, 0);
        CHECK_NEAR(back[1], -2.0, 0);
        CHECK_EQ_INT(gt_tensor_to_f32(back, w, 1, &err), GT_ERR_INVALID);
    }
    gt_safetensors_close(st);
}

static void test_open_reports_missing_and_directories(void)
{
    gt_safetensors *st = NULL;
    gt_error err = {0};
    CHECK_EQ_INT(gt_safetensors_open(test_path("absent.safetensors"), &st, &err), GT_ERR_NOT_FOUND);
    CHECK(strstr(err.message, "absent.safetensors") != NULL);
    CHECK(gt_safetensors_open(test_tmpdir(), &st, &err) != GT_OK);
    CHECK(strstr(err.message, "not a regular file") != NULL);
    CHECK(st == NULL);
    /* A FIFO is refused at once, without waiting for a writer. */
    const char *fifo = test_path("fifo.safetensors");
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK_EQ_INT(gt_safetensors_open(fifo, &st, &err), GT_ERR_INVALID);
    CHECK(strstr(err.message, "not a regular file") != NULL);
}

/* Half and bfloat16 values checked against their IEEE definitions. */
static void test_half_and_bfloat16_conversions(void)
{
    CHECK_NEAR(gt_f16_to_f32(0x3C00), 1.0, 0);
    CHECK_NEAR(gt_f16_to_f32(0xC000), -2.0, 0);
    CHECK_NEAR(gt_f16_to_f32(0x7BFF), 65504.0, 0);
    CHECK_NEAR(gt_f16_to_f32(0x0001), ldexp(1, -24), 0);
    CHECK_NEAR(gt_f16_to_f32(0x03FF), 1023 * ldexp(1, -24), 0);
    CHECK(isinf(gt_f16_to_f32(0x7C00)) && gt_f16_to_f32(0xFC00) < 0);
    CHECK(isnan(gt_f16_to_f32(0x7E00)));
    CHECK(signbit(gt_f16_to_f32(0x8000)));
    CHECK_EQ_INT(gt_f32_to_f16(1.0f), 0x3C00);
    CHECK_EQ_INT(gt_f32_to_f16(65504.0f), 0x7BFF);
    CHECK_EQ_INT(gt_f32_to_f16(65519.0f), 0x7BFF);          /* below the halfway point */
    CHECK_EQ_INT(gt_f32_to_f16(65520.0f), 0x7C00);          /* halfway to 2^16: rounds to even = inf */
    CHECK_EQ_INT(gt_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);   /* tie, kept even */
    CHECK_EQ_INT(gt_f32_to_f16(1.0f + 0x3p-11f), 0x3C02);   /* tie, rounded up to even */
    CHECK_EQ_INT(gt_f32_to_f16(0x1p-24f), 0x0001);
    CHECK_EQ_INT(gt_f32_to_f16(0x1p-25f), 0x0000);          /* tie between 0 and the smallest: even */
    CHECK_EQ_INT(gt_f32_to_f16(0x3p-26f), 0x0001);
    CHECK_EQ_INT(gt_f32_to_f16(-0x1p-14f), 0x8400);         /* smallest normal */
    CHECK_EQ_INT(gt_f32_to_f16(0x1.ffcp-15f), 0x0400);      /* subnormal tie rounding up into the normals */
    CHECK_EQ_INT(gt_f32_to_f16(INFINITY), 0x7C00);
    CHECK_EQ_INT(gt_f32_to_f16(NAN) & 0x7E00, 0x7E00);
    CHECK_NEAR(gt_bf16_to_f32(0x3F80), 1.0, 0);
    CHECK_NEAR(gt_bf16_to_f32(0x4049), 3.140625, 0);
    CHECK_EQ_INT(gt_f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);   /* tie, kept even */
    CHECK_EQ_INT(gt_f32_to_bf16(1.0f + 0x3p-8f), 0x3F82);   /* tie, rounded up to even */
    CHECK_EQ_INT(gt_f32_to_bf16(3.14159265f), 0x4049);
    CHECK_EQ_INT(gt_f32_to_bf16(NAN), 0x7FC0);
}

/* Conversion copes with data at odd addresses (headers a hand-made file did not pad). */
static void test_to_f32_reads_unaligned_data(void)
{
    unsigned char raw[1 + 3 * 8];
    double d[] = {1.25, -3.5, 1e30};
    memcpy(raw + 1, d, sizeof d);
    uint64_t shape[] = {3};
    gt_tensor_info t = {"odd", GT_DTYPE_F64, 1, shape, 3, 24, 0, raw + 1};
    float out[3];
    gt_error err = {0};
    CHECK_EQ_INT(gt_tensor_to_f32(out, &t, 3, &err), GT_OK);
    CHECK_NEAR(out[0], 1.25, 0);
    CHECK_NEAR(out[1], -3.5, 0);
    CHECK_CLOSE(out[2], 1e30, 1e-7, 0);
    t.dtype = GT_DTYPE_I32;
    CHECK_EQ_INT(gt_tensor_to_f32(out, &t, 3, &err), GT_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "I32") != NULL);
}

static void check_one_line(const gt_error *err, const char *label)
{
    CHECK_MSG(err->message[0] != '\0', "empty error message");
    CHECK_MSG(strchr(err->message, '\n') == NULL, "error spans lines: %s", err->message);
    CHECK_MSG(strstr(err->message, label) != NULL, "error does not name %s: %s", label, err->message);
}

/* A small valid file cut at every byte is refused, never over-read (ASan build). */
static void test_every_truncation_is_refused(void)
{
    size_t len;
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/safetensors/tiny.safetensors", test_env("GREENTUNE_SOURCE_DIR"));
    char *file = test_read_file(path, &len);
    CHECK(file != NULL && len > 100);
    for (size_t cut = 0; file && cut < len; cut++) {
        char *prefix = malloc(cut ? cut : 1);
        memcpy(prefix, file, cut);
        gt_safetensors *st = NULL;
        gt_error err = {0};
        CHECK_MSG(gt_safetensors_parse(prefix, cut, "cut", &st, &err) != GT_OK, "prefix of %zu bytes accepted", cut);
        CHECK(st == NULL);
        check_one_line(&err, "cut");
        free(prefix);
    }
    free(file);
}

/* Every byte of a small valid file replaced by a few values: the reader either
 * refuses with a message or returns tensors that lie inside the buffer. */
static void test_single_byte_corruptions_never_escape_the_buffer(void)
{
    size_t len;
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/safetensors/tiny.safetensors", test_env("GREENTUNE_SOURCE_DIR"));
    char *file = test_read_file(path, &len);
    const unsigned char values[] = {0x00, 0xFF, '"', '{', '}', '[', ']', ',', '9', '-', ' ', 0x80};
    int accepted = 0;
    for (size_t at = 0; file && at < len; at++) {
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char *copy = malloc(len);
            memcpy(copy, file, len);
            copy[at] = values[v];
            gt_safetensors *st = NULL;
            gt_error err = {0};
            if (gt_safetensors_parse(copy, len, "flip", &st, &err) == GT_OK) {
                accepted++;
                for (size_t i = 0; i < gt_safetensors_count(st); i++) {
                    const gt_tensor_info *t = gt_safetensors_tensor(st, i);
                    const unsigned char *p = t->data;
                    CHECK(p >= copy && p + t->nbytes <= copy + len);
                }
            } else {
                check_one_line(&err, "flip");
            }
            gt_safetensors_close(st);
            free(copy);
        }
    }
    /* Flips inside tensor data (and some name bytes) are still valid files. */
    CHECK(accepted > 0);
    free(file);
}

/* Each hostile fixture fails with the phrase listed in bad/EXPECTED. */
static void test_hostile_corpus(void)
{
    char dir[4096], manifest[4200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/safetensors/bad", test_env("GREENTUNE_SOURCE_DIR"));
    snprintf(manifest, sizeof manifest, "%s/EXPECTED", dir);
    char *text = test_read_file(manifest, NULL);
    CHECK(text != NULL);
    int files = 0;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = '\0';
        char path[8400];
        snprintf(path, sizeof path, "%s/%s", dir, line);
        gt_safetensors *st = NULL;
        gt_error err = {0};
        gt_status status = gt_safetensors_open(path, &st, &err);
        CHECK_MSG(status != GT_OK, "%s was accepted", line);
        CHECK_MSG(strstr(err.message, tab + 1) != NULL, "%s: expected \"%s\" in: %s", line, tab + 1, err.message);
        check_one_line(&err, line);
        gt_safetensors_close(st);
        files++;
    }
    CHECK(files >= 25);
    free(text);
}

int main(void)
{
    RUN(test_round_trip_every_dtype_with_metadata);
    RUN(test_scalar_and_empty_tensors);
    RUN(test_writer_bytes_follow_the_format);
    RUN(test_writer_orders_by_alignment_then_name);
    RUN(test_writer_refuses_bad_tensors);
    RUN(test_write_file_is_atomic_and_mapped_back);
    RUN(test_open_reports_missing_and_directories);
    RUN(test_half_and_bfloat16_conversions);
    RUN(test_to_f32_reads_unaligned_data);
    RUN(test_every_truncation_is_refused);
    RUN(test_single_byte_corruptions_never_escape_the_buffer);
    RUN(test_hostile_corpus);
    return test_summary();
}
