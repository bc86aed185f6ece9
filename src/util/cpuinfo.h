/* The CPU's model name, as the machine facts, the GEMM-peak cache and the
 * energy estimate's TDP table see it. */
#ifndef GREENTUNE_UTIL_CPUINFO_H
#define GREENTUNE_UTIL_CPUINFO_H

#include <stddef.h>

/* The first model line of /proc/cpuinfo ("AMD EPYC 9B14"), trimmed, with tabs
 * made blanks (the value goes into tab-separated files); `fallback` when the
 * file is unreadable or names no model. */
void cpuinfo_model(char *out, size_t size, const char *fallback);

#endif
