/*
 * A main() for the harnesses when libFuzzer is not linked (gcc builds, DH_FUZZ=OFF): runs
 * LLVMFuzzerTestOneInput() once on every file under the given files and directories, so
 * the regression inputs and seeds are replayed by every ordinary build's unit tests. A
 * crash or a broken invariant fails the test (abort); an unreadable or empty path list
 * fails it too, so a test that replays nothing cannot pass. Options ("-runs=0" and the
 * like, as run.sh passes them to either build) are ignored.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_support.h"

/* Weak: a harness without an initializer links too. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;
    int rc = -1;

    if (!fp) {
        perror(path);
        return -1;
    }
    if (fseek(fp, 0, SEEK_END) != 0) {
        perror(path);
        goto out;
    }
    n = ftell(fp);
    if (n < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        perror(path);
        goto out;
    }
    buf = malloc((size_t)n + 1); /* +1: a valid pointer for an empty file */
    if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        fprintf(stderr, "%s: read failed\n", path);
        goto out;
    }
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    rc = 0;
out:
    free(buf);
    fclose(fp);
    return rc;
}

/* Every regular file under \p path, in directory order; counts them in \p n. */
static int run_path(const char *path, size_t *n)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*n)++;
        return run_file(path);
    }
    d = opendir(path);
    if (!d) {
        perror(path);
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char sub[4096];

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        rc = run_path(sub, n);
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 0;

    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            continue;
        }
        if (run_path(argv[i], &n) != 0) {
            return 1;
        }
    }
    printf("%zu inputs replayed, no crash\n", n);
    return n > 0 ? 0 : 1;
}
