/*
 * Unit-test support: reading the contract's examples (schemas/examples/<topic>/{valid,
 * invalid} and expected-errors.json) and comparing JSON. Fails the running cmocka test on
 * errors.
 */
#ifndef DH_TH_EXAMPLES_H
#define DH_TH_EXAMPLES_H

#include <stddef.h>

#include <jansson.h>

/** The whole of \p dir/\p name, NUL-terminated, its length in *\p len (caller free()s).
 *  Fails the test if the file cannot be read. */
char *th_slurp(const char *dir, const char *name, size_t *len);

/** \p examples_dir/expected-errors.json: invalid example file name -> the ajv error it
 *  must produce (caller json_decref()s). Fails the test if it cannot be loaded. */
json_t *th_expected_errors(const char *examples_dir);

/** Fails the test unless the decoder's reason \p err for the invalid example \p name says
 *  what ajv said in \p want (an expected-errors.json entry): it starts with the instance
 *  path, carries ajv's wording for the keyword and names a missing property. */
void th_assert_ajv_reason(const char *name, const char *err, json_t *want);

/** Fails the test unless \p got equals the JSON text \p want_text (printing both). */
void th_assert_json_equal(json_t *got, const char *want_text);

#endif
