/* What every fuzz target shares. A target is one file, fuzz_<name>.c, that
 * defines LLVMFuzzerTestOneInput: libFuzzer calls it with generated inputs in
 * the fuzz build (fuzz/CMakeLists.txt, clang), and replay_main.c calls it with
 * the checked-in corpus and regressions in the normal and sanitizer builds
 * (tests/fuzz/extra.cmake), so a crash found once is replayed by every `make test`.
 *
 * A target must never crash, leak or trip a sanitizer on any input; it aborts
 * (FUZZ_ASSERT) when a parser breaks one of its own promises, so the fuzzer
 * reports a broken invariant as loudly as a memory error. */
#ifndef GREENTUNE_FUZZ_H
#define GREENTUNE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* The input as a NUL-terminated string (the parsers that take C strings stop at
 * the first NUL, as they would reading such a file). Free it. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* An error a parser returned must be one line: no control characters, no
 * empty message (the CLI prints it as "greentune: <message>"). */
static inline void fuzz_check_message(const char *message)
{
    if (message[0] == '\0' || strpbrk(message, "\n\r")) {
        fprintf(stderr, "error message is not one line: \"%s\"\n", message);
        abort();
    }
}

#endif
