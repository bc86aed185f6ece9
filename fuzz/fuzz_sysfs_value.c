/* Counter and attribute values read from sysfs (or a fake tree): the energy
 * library's reader (energy_read_u64, RAPL's energy_uj) and the knobs' reader
 * (gt_sysfs_read_u64, power limits and frequencies). The input is the file's
 * contents. Both must agree with a plain reading of the text: a value is
 * accepted only when the file holds one unsigned decimal number (blanks around
 * it allowed) that fits 64 bits, and then it is that number. */
#include "fuzz.h"

#include <fcntl.h>
#include <unistd.h>

#include "energy/internal.h"
#include "util/sysfs.h"

/* The file's number, or -1 when it does not hold exactly one (blanks allowed
 * around it; the kernel ends attributes with a newline). */
static int plain_number(const uint8_t *data, size_t size, uint64_t *value)
{
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        i++;
    size_t digits = 0;
    unsigned __int128 v = 0;
    for (; i < size && data[i] >= '0' && data[i] <= '9'; i++, digits++)
        if ((v = v * 10 + (unsigned)(data[i] - '0')) > UINT64_MAX)
            return -1;
    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        i++;
    if (!digits || i != size)
        return -1;
    *value = (uint64_t)v;
    return 0;
}

static const char *scratch_file(void)
{
    static char path[64];
    if (!path[0]) {
        char dir[] = "/tmp/gt-fuzz-sysfs-XXXXXX";
        FUZZ_ASSERT(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/value", dir);
    }
    return path;
}

static void write_scratch(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(size == 0 || write(fd, data, size) == (ssize_t)size);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    uint64_t expected = 0, value = 0;
    int valid = plain_number(data, size, &expected) == 0;
    const char *path = scratch_file();
    write_scratch(path, data, size);
    gt_error err = {0};

    gt_status status = energy_read_u64(path, &value, &err);
    if (status == GT_OK)
        FUZZ_ASSERT(valid && value == expected);
    else
        fuzz_check_message(err.message);

    status = gt_sysfs_read_u64(path, &value, &err);
    if (status == GT_OK)
        FUZZ_ASSERT(valid && value == expected);
    else
        fuzz_check_message(err.message);

    char text[GT_SYSFS_VALUE_MAX];
    if (gt_sysfs_read_string(path, text, sizeof text, &err) == GT_OK)
        FUZZ_ASSERT(strlen(text) <= size);
    else
        fuzz_check_message(err.message);

    /* The text form takes a C string: it ends at the first NUL. */
    char *copy = fuzz_cstring(data, size);
    valid = plain_number(data, strlen(copy), &expected) == 0;
    if (energy_parse_u64("value", copy, &value, &err) == GT_OK)
        FUZZ_ASSERT(valid && value == expected);
    else
        fuzz_check_message(err.message);
    free(copy);
    return 0;
}
