/*
 * tokens: the worker's shared cache of Shopify client-credentials tokens. A thousand stores
 * all stay cached (no cap, the table grows), a due token is dropped at lookup, a put
 * replaces, a drop forgets, a buffer too small gets nothing rather than a cut token, and
 * lanes hitting it from several threads at once neither lose nor mix tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dockhand/tokens.h"

#define STORES 1000

static void test_many_stores(void **state)
{
    dh_tokens_t *t = dh_tokens_new();
    char dom[64], tok[64], out[64];

    (void)state;
    assert_non_null(t);
    for (int i = 0; i < STORES; i++) {
        snprintf(dom, sizeof(dom), "s%d.myshopify.com", i);
        snprintf(tok, sizeof(tok), "tok-%d", i);
        assert_int_equal(dh_tokens_put(t, dom, tok, 1000 + i), DH_OK);
    }
    assert_int_equal(dh_tokens_count(t), STORES);
    for (int i = 0; i < STORES; i++) {
        snprintf(dom, sizeof(dom), "s%d.myshopify.com", i);
        snprintf(tok, sizeof(tok), "tok-%d", i);
        assert_int_equal(dh_tokens_copy(t, dom, 999, out, sizeof(out)), 1);
        assert_string_equal(out, tok);
    }
    /* At 1500 the first 501 are due (refresh_ms <= now): dropped as they are looked up. */
    for (int i = 0; i < STORES; i++) {
        snprintf(dom, sizeof(dom), "s%d.myshopify.com", i);
        assert_int_equal(dh_tokens_copy(t, dom, 1500, out, sizeof(out)), i > 500);
    }
    assert_int_equal(dh_tokens_count(t), STORES - 501);
    dh_tokens_destroy(t);
}

static void test_replace_drop_small(void **state)
{
    dh_tokens_t *t = dh_tokens_new();
    char out[8];

    (void)state;
    assert_int_equal(dh_tokens_put(t, "a.myshopify.com", "old", 100), DH_OK);
    assert_int_equal(dh_tokens_put(t, "a.myshopify.com", "new", 100), DH_OK);
    assert_int_equal(dh_tokens_count(t), 1);
    assert_int_equal(dh_tokens_copy(t, "a.myshopify.com", 0, out, sizeof(out)), 1);
    assert_string_equal(out, "new");
    assert_int_equal(dh_tokens_put(t, "b.myshopify.com", "0123456789", 100), DH_OK);
    memset(out, 'x', sizeof(out));
    assert_int_equal(dh_tokens_copy(t, "b.myshopify.com", 0, out, sizeof(out)), 0);
    assert_int_equal(out[0], 'x'); /* nothing written, not a cut token */
    dh_tokens_drop(t, "a.myshopify.com");
    dh_tokens_drop(t, "absent.myshopify.com");
    assert_int_equal(dh_tokens_copy(t, "a.myshopify.com", 0, out, sizeof(out)), 0);
    assert_int_equal(dh_tokens_count(t), 1);
    dh_tokens_destroy(t);
    dh_tokens_destroy(NULL);
}

struct worker_arg {
    dh_tokens_t *t;
    int id;
    int wrong; /* tokens read back that were not the store's */
};

/* Each thread puts, reads back and drops its own stores' tokens while the others do. */
static void *hammer(void *p)
{
    struct worker_arg *a = p;
    char dom[64], tok[64], out[64];

    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 50; i++) {
            snprintf(dom, sizeof(dom), "t%d-s%d.myshopify.com", a->id, i);
            snprintf(tok, sizeof(tok), "t%d-s%d-r%d", a->id, i, round);
            if (dh_tokens_put(a->t, dom, tok, 1000) != DH_OK ||
                !dh_tokens_copy(a->t, dom, 0, out, sizeof(out)) || strcmp(out, tok) != 0) {
                a->wrong++;
            }
            if (round % 2) {
                dh_tokens_drop(a->t, dom);
            }
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    dh_tokens_t *t = dh_tokens_new();
    pthread_t th[4];
    struct worker_arg a[4];

    (void)state;
    for (int i = 0; i < 4; i++) {
        a[i] = (struct worker_arg){t, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].wrong, 0);
    }
    assert_int_equal(dh_tokens_count(t), 0); /* the last round (odd) dropped them all */
    dh_tokens_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_stores),
        cmocka_unit_test(test_replace_drop_small),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
