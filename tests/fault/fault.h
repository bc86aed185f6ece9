/* The fault tests' side of libgt_fault.so (gt_fault.c), which ctest preloads
 * into every tests/fault/test_* program (tests/fault/extra.cmake). */
#ifndef GREENTUNE_TEST_FAULT_H
#define GREENTUNE_TEST_FAULT_H

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets the fault plan, "ops:after:errno[:path]" ("" clears it). */
static inline void fault_plan(const char *spec)
{
    int (*set)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "gt_fault_set");
    if (!set) {
        fprintf(stderr, "libgt_fault.so is not preloaded: run this test through ctest (it sets LD_PRELOAD)\n");
        exit(2);
    }
    if (set(spec) != 0) {
        fprintf(stderr, "fault plan \"%s\" is malformed\n", spec);
        exit(2);
    }
}

/* How many calls the current plan has failed. */
static inline long fault_failed(void)
{
    long (*failed)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "gt_fault_failed");
    return failed ? failed() : -1;
}

/* Entries of dir whose name starts with prefix (leftover temporary files). */
static inline int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += !strncmp(e->d_name, prefix, strlen(prefix));
    if (d)
        closedir(d);
    return n;
}

#endif
