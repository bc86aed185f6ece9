#include "greentune/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gt_status gt_read_file(const char *path, size_t max_bytes, char **data, size_t *len, gt_error *err)
{
    *data = NULL;
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return gt_error_set(err, errno == ENOENT ? GT_ERR_NOT_FOUND
                                 : errno == EACCES ? GT_ERR_PERMISSION : GT_ERR_IO,
                            "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return gt_error_set(err, GT_ERR_INVALID, "%s: is a directory, expected a file", path);
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max_bytes) {
                free(buf);
                fclose(f);
                return gt_error_set(err, GT_ERR_NOMEM, "%s: larger than the %zu-byte limit for this kind of file",
                                    path, max_bytes);
            }
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                fclose(f);
                return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return gt_error_set(err, GT_ERR_IO, "%s: read error", path);
    }
    if (n > max_bytes) {
        free(buf);
        return gt_error_set(err, GT_ERR_NOMEM, "%s: larger than the %zu-byte limit for this kind of file",
                            path, max_bytes);
    }
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return GT_OK;
}

/* fsync the directory holding path so the rename itself is durable. */
static void fsync_parent_directory(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

gt_status gt_atomic_file_open(gt_atomic_file *file, const char *path, gt_error *err)
{
    memset(file, 0, sizeof *file);
    size_t n = strlen(path) + 32;
    file->target_path = strdup(path);
    file->temp_path = malloc(n);
    if (!file->target_path || !file->temp_path) {
        gt_atomic_file_abort(file);
        return gt_error_set(err, GT_ERR_NOMEM, "%s: out of memory", path);
    }
    /* The temporary file sits next to the target so rename() stays on one file
     * system; the leading dot and suffix keep it out of globs of the real files. */
    snprintf(file->temp_path, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(file->temp_path);
    if (fd < 0) {
        gt_status status = gt_error_set(err, errno == EACCES ? GT_ERR_PERMISSION : GT_ERR_IO,
                                        "%s: cannot create a file there: %s", path, strerror(errno));
        free(file->temp_path);
        file->temp_path = NULL;
        gt_atomic_file_abort(file);
        return status;
    }
    fchmod(fd, 0644);
    file->stream = fdopen(fd, "wb");
    if (!file->stream) {
        close(fd);
        gt_atomic_file_abort(file);
        return gt_error_set(err, GT_ERR_IO, "%s: %s", path, strerror(errno));
    }
    return GT_OK;
}

gt_status gt_atomic_file_commit(gt_atomic_file *file, gt_error *err)
{
    const char *path = file->target_path;
    int failed = fflush(file->stream) != 0 || ferror(file->stream);
    int saved_errno = errno;
    if (!failed && fsync(fileno(file->stream)) != 0) {
        failed = 1;
        saved_errno = errno;
    }
    if (fclose(file->stream) != 0 && !failed) {
        failed = 1;
        saved_errno = errno;
    }
    file->stream = NULL;
    if (failed) {
        gt_error_set(err, GT_ERR_IO, "%s: write failed: %s (the previous file, if any, is untouched)", path,
                     strerror(saved_errno));
        gt_atomic_file_abort(file);
        return GT_ERR_IO;
    }
    if (rename(file->temp_path, path) != 0) {
        gt_error_set(err, errno == EACCES ? GT_ERR_PERMISSION : GT_ERR_IO, "%s: cannot replace: %s", path,
                     strerror(errno));
        gt_atomic_file_abort(file);
        return err ? err->status : GT_ERR_IO;
    }
    fsync_parent_directory(path);
    free(file->temp_path);
    free(file->target_path);
    memset(file, 0, sizeof *file);
    return GT_OK;
}

void gt_atomic_file_abort(gt_atomic_file *file)
{
    if (file->stream)
        fclose(file->stream);
    if (file->temp_path)
        unlink(file->temp_path);
    free(file->temp_path);
    free(file->target_path);
    memset(file, 0, sizeof *file);
}

gt_status gt_write_file_atomic(const char *path, const void *data, size_t len, gt_error *err)
{
    gt_atomic_file file;
    gt_status status = gt_atomic_file_open(&file, path, err);
    if (status != GT_OK)
        return status;
    if (len && fwrite(data, 1, len, file.stream) != len) {
        gt_error_set(err, GT_ERR_IO, "%s: write failed: %s (the previous file, if any, is untouched)", path,
                     strerror(errno));
        gt_atomic_file_abort(&file);
        return GT_ERR_IO;
    }
    return gt_atomic_file_commit(&file, err);
}
