/*
 * Shared harness helpers (see fuzz_support.h).
 */
#include "fuzz_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dockhand/log.h"

char *fz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    fz_check(s != NULL, "out of memory");
    if (size) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    return s;
}

void fz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz invariant broken: %s\n", what);
        abort();
    }
}

void fz_quiet(void)
{
    dh_log_init("fuzz", DH_LOG_ERROR);
}
