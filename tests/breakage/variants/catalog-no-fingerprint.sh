# shellcheck shell=bash
DESC="dh-catalog sends every variant of every snapshot, changed or not"
TESTS="^test_e2e_catalog$"
FAST=0
mutate() {
    replace workers/catalog/apply.c '    } else if (fp && strcmp(fp, v->fp) == 0) {' '    } else if (0 && fp && strcmp(fp, v->fp) == 0) {'
}
