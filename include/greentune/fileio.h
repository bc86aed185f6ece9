/* greentune/fileio.h — whole-file reads with a size bound, atomic writes.
 *
 * Every file greentune writes (results, checkpoints, reports, databases aside)
 * goes through gt_write_file_atomic or gt_atomic_file: the data lands in a
 * temporary file in the same directory, is fsync'd, renamed over the target, and
 * the directory is fsync'd — a crash at any moment leaves either the old file or
 * the new one, never a torn mix. */
#ifndef GREENTUNE_FILEIO_H
#define GREENTUNE_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "greentune/common.h"

/* Reads path into a malloc'd buffer with a terminating NUL (not counted in *len).
 * Files larger than max_bytes are refused with GT_ERR_NOMEM and a message that
 * names the limit. */
GT_API gt_status gt_read_file(const char *path, size_t max_bytes, char **data, size_t *len, gt_error *err);

/* Writes len bytes to path atomically (temp + fsync + rename + fsync dir). */
GT_API gt_status gt_write_file_atomic(const char *path, const void *data, size_t len, gt_error *err);

/* Streaming form of the same: open, write through file->stream, then commit or
 * abort. abort (or a failed commit) removes the temporary file and leaves the
 * target untouched. */
typedef struct {
    FILE *stream;
    char *target_path;
    char *temp_path;
} gt_atomic_file;

GT_API gt_status gt_atomic_file_open(gt_atomic_file *file, const char *path, gt_error *err);
GT_API gt_status gt_atomic_file_commit(gt_atomic_file *file, gt_error *err);
GT_API void gt_atomic_file_abort(gt_atomic_file *file);

#endif
