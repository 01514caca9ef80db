/* Unit-test support: the contract's examples and JSON comparison (see th_examples.h). */
#include "th_examples.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *th_slurp(const char *dir, const char *name, size_t *len)
{
    char path[2048];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open %s", path);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

json_t *th_expected_errors(const char *examples_dir)
{
    char path[2048];
    json_error_t err;
    json_t *j;

    snprintf(path, sizeof(path), "%s/expected-errors.json", examples_dir);
    j = json_load_file(path, 0, &err);
    if (!j) {
        fail_msg("%s: %s (line %d)", path, err.text, err.line);
    }
    return j;
}

void th_assert_json_equal(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, 0, NULL);

    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);

        print_error("got  %s\nwant %s\n", g ? g : "(null)", w ? w : "(null)");
        free(g);
        free(w);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

void th_assert_ajv_reason(const char *name, const char *err, json_t *want)
{
    const char *path = json_string_value(json_object_get(want, "instancePath"));
    const char *kw = json_string_value(json_object_get(want, "keyword"));
    const char *missing =
        json_string_value(json_object_get(json_object_get(want, "params"), "missingProperty"));
    /* ajv's wording for each keyword the examples use. */
    const char *words = !strcmp(kw, "required")   ? "must have required property"
                        : !strcmp(kw, "enum")     ? "must be equal to one of the allowed"
                        : !strcmp(kw, "minItems") ? "must NOT have fewer than"
                        : !strcmp(kw, "minimum")  ? "must be >="
                                                  : kw;
    char sub[300];

    snprintf(sub, sizeof(sub), "%s ", path);
    if (strncmp(err, sub, strlen(sub)) != 0) {
        fail_msg("%s: \"%s\" does not start with \"%s\"", name, err, sub);
    }
    if (!strstr(err, words)) {
        fail_msg("%s: \"%s\" is not a %s error", name, err, kw);
    }
    if (missing && !strstr(err, missing)) {
        fail_msg("%s: \"%s\" does not name %s", name, err, missing);
    }
}
