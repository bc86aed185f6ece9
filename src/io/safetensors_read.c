/* Reading safetensors files: validate the whole header before handing out data.
 *
 * gt_safetensors_parse is a pure function of (bytes, length) so a fuzzer can
 * drive it; gt_safetensors_open maps a file and calls it. Checks, in order:
 * the header length against the limit and the file, the JSON (UTF-8, an object),
 * each entry (dtype known, shape and offsets non-negative integers, byte size
 * without overflow and equal to the offsets' span, inside the buffer), then the
 * entries together (no duplicate names, contiguous from 0 to the buffer's end). */
#include "greentune/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_internal.h"

struct gt_safetensors {
    cJSON *header;            /* the parsed JSON; names and metadata point into it */
    gt_tensor_info *tensors;  /* by offset */
    size_t count;
    size_t *by_name;          /* indices into tensors, sorted by name */
    uint64_t *shapes;         /* every tensor's dimensions, back to back */
    const cJSON **metadata;   /* __metadata__ members */
    size_t metadata_count;
    uint64_t header_bytes, data_bytes;
    void *map;                /* the file mapping when opened from a path */
    size_t map_len;
};

/* JSON numbers are doubles: integers are exact up to 2^53, which is far beyond
 * any real offset (8 PiB) and keeps the conversion free of rounding. */
#define MAX_EXACT_INTEGER 9007199254740992.0

static int json_to_u64(const cJSON *item, uint64_t *value)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= MAX_EXACT_INTEGER) || v != (double)(uint64_t)v)
        return 0;
    *value = (uint64_t)v;
    return 1;
}

static gt_status check_metadata(gt_safetensors *st, const cJSON *meta, const char *label, gt_error *err)
{
    if (!cJSON_IsObject(meta))
        return gt_io_error(err, GT_ERR_PARSE, "%s: __metadata__ is not an object of strings", label);
    size_t n = 0;
    for (const cJSON *m = meta->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return gt_io_error(err, GT_ERR_PARSE, "%s: __metadata__ value of \"%.100s\" is not a string", label,
                                m->string);
        if (++n > GT_SAFETENSORS_MAX_METADATA)
            return gt_io_error(err, GT_ERR_NOMEM, "%s: __metadata__ has more than %u entries", label,
                                GT_SAFETENSORS_MAX_METADATA);
    }
    const cJSON *duplicate = gt_json_duplicate_key(meta);
    if (duplicate)
        return gt_io_error(err, GT_ERR_PARSE, "%s: __metadata__ key \"%.100s\" appears twice", label,
                           duplicate->string);
    st->metadata = calloc(n ? n : 1, sizeof *st->metadata);
    if (!st->metadata)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory", label);
    for (const cJSON *m = meta->child; m; m = m->next)
        st->metadata[st->metadata_count++] = m;
    return GT_OK;
}

/* Reads one tensor entry into *t; shape values go to shape[0..rank). */
static gt_status parse_entry(gt_tensor_info *t, uint64_t *shape, const cJSON *entry, const char *label,
                             uint64_t data_len, gt_error *err)
{
    const char *name = entry->string;
    if (!cJSON_IsObject(entry))
        return gt_io_error(err, GT_ERR_PARSE, "%s: tensor \"%.100s\": entry is not an object", label, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(dims) || !cJSON_IsArray(offsets))
        return gt_io_error(err, GT_ERR_PARSE,
                            "%s: tensor \"%.100s\": needs \"dtype\" (a string), \"shape\" and \"data_offsets\" (arrays)",
                            label, name);
    if (!gt_dtype_from_name(dtype->valuestring, &t->dtype))
        return gt_io_error(err, GT_ERR_PARSE, "%s: tensor \"%.100s\": unknown dtype \"%.32s\"", label, name,
                            dtype->valuestring);

    t->name = name;
    t->shape = shape;
    t->rank = 0;
    t->numel = 1;
    int overflow = 0;
    for (const cJSON *d = dims->child; d; d = d->next) {
        if (t->rank == GT_SAFETENSORS_MAX_RANK)
            return gt_io_error(err, GT_ERR_PARSE, "%s: tensor \"%.100s\": more than %d dimensions", label, name,
                                GT_SAFETENSORS_MAX_RANK);
        if (!json_to_u64(d, &shape[t->rank]))
            return gt_io_error(err, GT_ERR_PARSE, "%s: tensor \"%.100s\": shape[%d] is not a non-negative integer",
                                label, name, t->rank);
        overflow |= __builtin_mul_overflow(t->numel, shape[t->rank], &t->numel);
        t->rank++;
    }
    uint64_t bits = 0;
    overflow |= __builtin_mul_overflow(t->numel, (uint64_t)gt_dtype_bits(t->dtype), &bits);
    if (overflow)
        return gt_io_error(err, GT_ERR_PARSE, "%s: tensor \"%.100s\": shape's byte size overflows 64 bits", label,
                            name);
    if (bits % 8)
        return gt_io_error(err, GT_ERR_PARSE, "%s: tensor \"%.100s\": %llu %s values do not fill whole bytes", label,
                            name, (unsigned long long)t->numel, gt_dtype_name(t->dtype));

    uint64_t begin, end;
    if (cJSON_GetArraySize(offsets) != 2 || !json_to_u64(offsets->child, &begin) ||
        !json_to_u64(offsets->child->next, &end))
        return gt_io_error(err, GT_ERR_PARSE,
                            "%s: tensor \"%.100s\": data_offsets is not a pair of non-negative integers", label, name);
    if (end < begin)
        return gt_io_error(err, GT_ERR_PARSE, "%s: tensor \"%.100s\": data_offsets [%llu, %llu] end before they begin",
                            label, name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_len)
        return gt_io_error(err, GT_ERR_PARSE,
                            "%s: tensor \"%.100s\": data_offsets [%llu, %llu] run past the data buffer (%llu bytes): "
                            "truncated file?",
                            label, name, (unsigned long long)begin, (unsigned long long)end,
                            (unsigned long long)data_len);
    if (end - begin != bits / 8)
        return gt_io_error(err, GT_ERR_PARSE,
                            "%s: tensor \"%.100s\": data_offsets [%llu, %llu] hold %llu bytes, but %s with %llu values "
                            "needs %llu",
                            label, name, (unsigned long long)begin, (unsigned long long)end,
                            (unsigned long long)(end - begin), gt_dtype_name(t->dtype),
                            (unsigned long long)t->numel, (unsigned long long)(bits / 8));
    t->offset = begin;
    t->nbytes = end - begin;
    return GT_OK;
}

static int compare_offsets(const void *a, const void *b)
{
    const gt_tensor_info *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

/* qsort has no context argument; names are compared through this table. */
static _Thread_local const gt_tensor_info *sort_tensors;

static int compare_names(const void *a, const void *b)
{
    return strcmp(sort_tensors[*(const size_t *)a].name, sort_tensors[*(const size_t *)b].name);
}

/* The tensors, in offset order, must tile [0, data_len) exactly. */
static gt_status check_layout(const gt_safetensors *st, const char *label, gt_error *err)
{
    uint64_t next = 0;
    for (size_t i = 0; i < st->count; i++) {
        const gt_tensor_info *t = &st->tensors[i];
        if (t->offset < next)
            return gt_io_error(err, GT_ERR_PARSE, "%s: tensors \"%.100s\" and \"%.100s\" overlap at byte %llu of the data",
                                label, st->tensors[i - 1].name, t->name, (unsigned long long)t->offset);
        if (t->offset > next)
            return gt_io_error(err, GT_ERR_PARSE,
                                "%s: data bytes [%llu, %llu) belong to no tensor (the buffer may have no holes)",
                                label, (unsigned long long)next, (unsigned long long)t->offset);
        next = t->offset + t->nbytes;
    }
    if (next != st->data_bytes)
        return gt_io_error(err, GT_ERR_PARSE,
                            "%s: the last %llu bytes of the file belong to no tensor (the buffer may have no holes)",
                            label, (unsigned long long)(st->data_bytes - next));
    return GT_OK;
}

static gt_status index_names(gt_safetensors *st, const char *label, gt_error *err)
{
    st->by_name = malloc((st->count ? st->count : 1) * sizeof *st->by_name);
    if (!st->by_name)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory", label);
    for (size_t i = 0; i < st->count; i++)
        st->by_name[i] = i;
    sort_tensors = st->tensors;
    qsort(st->by_name, st->count, sizeof *st->by_name, compare_names);
    for (size_t i = 1; i < st->count; i++) {
        const char *name = st->tensors[st->by_name[i]].name;
        if (!strcmp(name, st->tensors[st->by_name[i - 1]].name))
            return gt_io_error(err, GT_ERR_PARSE, "%s: tensor \"%.100s\" appears twice in the header", label, name);
    }
    return GT_OK;
}

static gt_status parse_header_json(gt_safetensors *st, const unsigned char *text, size_t n, const char *label,
                                   gt_error *err)
{
    if (n == 0 || text[0] != '{')
        return gt_io_error(err, GT_ERR_PARSE, "%s: header does not start with '{' (not a safetensors file?)",
                            label);
    size_t bad = gt_utf8_invalid_at(text, n);
    if (bad < n)
        return gt_io_error(err, GT_ERR_PARSE, "%s: header is not valid UTF-8 (byte %zu of the header)", label,
                            bad);
    /* cJSON wants a terminated string; the header is not, and may not hold a NUL. */
    if (memchr(text, '\0', n))
        return gt_io_error(err, GT_ERR_PARSE, "%s: header contains a NUL byte", label);
    char *copy = malloc(n + 1);
    if (!copy)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory for a %zu-byte header", label, n);
    memcpy(copy, text, n);
    copy[n] = '\0';
    const char *end = NULL;
    st->header = cJSON_ParseWithOpts(copy, &end, 1);
    size_t at = end ? (size_t)(end - copy) : 0;
    free(copy);
    if (!st->header)
        return gt_io_error(err, GT_ERR_PARSE, "%s: header is not valid JSON (near byte %zu of the header)", label,
                            at);
    if (!cJSON_IsObject(st->header))
        return gt_io_error(err, GT_ERR_PARSE, "%s: header is not a JSON object", label);
    return GT_OK;
}

static gt_status parse_tensors(gt_safetensors *st, const char *label, const unsigned char *buffer, gt_error *err)
{
    size_t entries = 0, dims = 0;
    const cJSON *meta = NULL;
    for (const cJSON *e = st->header->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (meta)
                return gt_io_error(err, GT_ERR_PARSE, "%s: __metadata__ appears twice in the header", label);
            meta = e;
            continue;
        }
        if (++entries > GT_SAFETENSORS_MAX_TENSORS)
            return gt_io_error(err, GT_ERR_NOMEM, "%s: more than %u tensors", label, GT_SAFETENSORS_MAX_TENSORS);
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        int rank = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : 0;
        dims += rank < GT_SAFETENSORS_MAX_RANK ? (size_t)rank : GT_SAFETENSORS_MAX_RANK;
    }
    gt_status status = meta ? check_metadata(st, meta, label, err) : GT_OK;
    if (status != GT_OK)
        return status;
    st->tensors = calloc(entries ? entries : 1, sizeof *st->tensors);
    st->shapes = calloc(dims ? dims : 1, sizeof *st->shapes);
    if (!st->tensors || !st->shapes)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory for %zu tensors", label, entries);
    uint64_t *shape = st->shapes;
    for (const cJSON *e = st->header->child; e; e = e->next) {
        if (e == meta)
            continue;
        gt_tensor_info *t = &st->tensors[st->count++];
        status = parse_entry(t, shape, e, label, st->data_bytes, err);
        if (status != GT_OK)
            return status;
        shape += t->rank;
        t->data = buffer + t->offset;
    }
    qsort(st->tensors, st->count, sizeof *st->tensors, compare_offsets);
    status = index_names(st, label, err);
    return status != GT_OK ? status : check_layout(st, label, err);
}

gt_status gt_safetensors_parse(const void *data, size_t len, const char *label, gt_safetensors **out,
                               gt_error *err)
{
    *out = NULL;
    const unsigned char *bytes = data;
    if (len < 8)
        return gt_io_error(err, GT_ERR_PARSE,
                            "%s: %zu bytes is too short for a safetensors file (it starts with an 8-byte header "
                            "length)",
                            label, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | bytes[i];
    if (n > GT_SAFETENSORS_MAX_HEADER)
        return gt_io_error(err, GT_ERR_PARSE,
                            "%s: header length %llu is over the %u-byte limit (corrupt, or not a safetensors file)",
                            label, (unsigned long long)n, GT_SAFETENSORS_MAX_HEADER);
    if (n > len - 8)
        return gt_io_error(err, GT_ERR_PARSE,
                            "%s: header length %llu runs past the end of the file (%zu bytes): truncated, or not a "
                            "safetensors file",
                            label, (unsigned long long)n, len);
    gt_safetensors *st = calloc(1, sizeof *st);
    if (!st)
        return gt_io_error(err, GT_ERR_NOMEM, "%s: out of memory", label);
    st->header_bytes = n;
    st->data_bytes = len - 8 - n;
    gt_status status = parse_header_json(st, bytes + 8, (size_t)n, label, err);
    if (status == GT_OK)
        status = parse_tensors(st, label, bytes + 8 + n, err);
    if (status != GT_OK) {
        gt_safetensors_close(st);
        return status;
    }
    *out = st;
    return GT_OK;
}

gt_status gt_safetensors_open(const char *path, gt_safetensors **out, gt_error *err)
{
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO by mistake must fail below, not wait for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return gt_io_error(err, errno == ENOENT ? GT_ERR_NOT_FOUND : errno == EACCES ? GT_ERR_PERMISSION : GT_ERR_IO,
                            "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gt_io_error(err, GT_ERR_INVALID, "%s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    if (len < 8) {
        /* mmap refuses empty files; a short file is simply too short. */
        unsigned char small[8];
        ssize_t got = read(fd, small, sizeof small);
        close(fd);
        return gt_safetensors_parse(small, got > 0 ? (size_t)got : 0, path, out, err);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (map == MAP_FAILED)
        return gt_io_error(err, GT_ERR_IO, "%s: cannot map the file: %s", path, strerror(saved));
    gt_status status = gt_safetensors_parse(map, len, path, out, err);
    if (status != GT_OK) {
        munmap(map, len);
        return status;
    }
    (*out)->map = map;
    (*out)->map_len = len;
    return GT_OK;
}

void gt_safetensors_close(gt_safetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap(st->map, st->map_len);
    cJSON_Delete(st->header);
    free(st->tensors);
    free(st->by_name);
    free(st->shapes);
    free(st->metadata);
    free(st);
}

size_t gt_safetensors_count(const gt_safetensors *st)
{
    return st->count;
}

const gt_tensor_info *gt_safetensors_tensor(const gt_safetensors *st, size_t index)
{
    return index < st->count ? &st->tensors[index] : NULL;
}

const gt_tensor_info *gt_safetensors_find(const gt_safetensors *st, const char *name)
{
    size_t lo = 0, hi = st->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gt_tensor_info *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0)
            return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t gt_safetensors_metadata_count(const gt_safetensors *st)
{
    return st->metadata_count;
}

void gt_safetensors_metadata_at(const gt_safetensors *st, size_t index, const char **key, const char **value)
{
    *key = *value = NULL;
    if (index < st->metadata_count) {
        *key = st->metadata[index]->string;
        *value = st->metadata[index]->valuestring;
    }
}

const char *gt_safetensors_metadata(const gt_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->metadata_count; i++)
        if (!strcmp(st->metadata[i]->string, key))
            return st->metadata[i]->valuestring;
    return NULL;
}

uint64_t gt_safetensors_header_bytes(const gt_safetensors *st)
{
    return st->header_bytes;
}

uint64_t gt_safetensors_data_bytes(const gt_safetensors *st)
{
    return st->data_bytes;
}
