/*
 * Helpers shared by the libFuzzer harnesses of tests/fuzz/ (one harness per decoder that
 * sees outside bytes). Not a product module: no dh_err_t, and a broken invariant aborts
 * so that libFuzzer records the input as a crash.
 */
#ifndef DH_FUZZ_SUPPORT_H
#define DH_FUZZ_SUPPORT_H

#include <stddef.h>

#include <stdint.h>

/** @brief libFuzzer's entry point, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/** @brief Optional libFuzzer hook, run once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/** @brief A NUL-terminated copy of \p data (caller free()s it); aborts when out of memory. */
char *fz_text(const uint8_t *data, size_t size);

/** @brief Abort with \p what on stderr unless \p ok: a decoder broke its own contract. */
void fz_check(int ok, const char *what);

/** @brief Logs at ERROR only: the decoders log every rejection, which would drown the
 *  fuzzer's output and slow it down. */
void fz_quiet(void);

#endif
