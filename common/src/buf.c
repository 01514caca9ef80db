/*
 * The growable buffer of buf.h: doubling growth from 256 bytes, one latch for failure.
 */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_internal.h"

int dh_buf_reserve(dh_buf_t *b, size_t more)
{
    size_t need, cap;
    char *p;

    if (b->oom) {
        return 0;
    }
    if (more > SIZE_MAX - 1 - b->len) { /* no such size */
        b->oom = 1;
        return 0;
    }
    need = b->len + more + 1;
    if (need <= b->cap) {
        return 1;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap = cap <= SIZE_MAX / 2 ? cap * 2 : need;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void dh_buf_add(dh_buf_t *b, const void *d, size_t n)
{
    if (dh_buf_reserve(b, n)) {
        if (n > 0) { /* d may be NULL then */
            memcpy(b->p + b->len, d, n);
        }
        b->len += n;
        b->p[b->len] = '\0';
    }
}

void dh_buf_adds(dh_buf_t *b, const char *s)
{
    dh_buf_add(b, s, strlen(s));
}

void dh_buf_vaddf(dh_buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    if (b->oom) {
        return;
    }
    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) {
        return;
    }
    if (dh_buf_reserve(b, (size_t)n)) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
    }
}

void dh_buf_addf(dh_buf_t *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    dh_buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void dh_buf_add_u64(dh_buf_t *b, uint64_t v)
{
    char digits[20];
    size_t n = 0;

    do {
        digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    dh_buf_add(b, digits + sizeof(digits) - n, n);
}

void dh_buf_add_i64(dh_buf_t *b, int64_t v)
{
    if (v < 0) {
        dh_buf_add(b, "-", 1);
        dh_buf_add_u64(b, (uint64_t)0 - (uint64_t)v); /* INT64_MIN too */
    } else {
        dh_buf_add_u64(b, (uint64_t)v);
    }
}

void dh_buf_add_json(dh_buf_t *b, const char *s, size_t n)
{
    /* Escaping grows a byte to at most 6. */
    if (n <= (SIZE_MAX - 3) / 6 && dh_buf_reserve(b, 6 * n + 2)) {
        b->p[b->len++] = '"';
        b->len += dh_log_json_escape(b->p + b->len, 6 * n, s, n, NULL);
        b->p[b->len++] = '"';
        b->p[b->len] = '\0';
    } else {
        b->oom = 1;
    }
}

void dh_buf_add_resp_cmd(dh_buf_t *b, size_t argc)
{
    dh_buf_add(b, "*", 1);
    dh_buf_add_u64(b, argc);
    dh_buf_add(b, "\r\n", 2);
}

void dh_buf_add_resp_len(dh_buf_t *b, size_t n)
{
    dh_buf_add(b, "$", 1);
    dh_buf_add_u64(b, n);
    dh_buf_add(b, "\r\n", 2);
}

void dh_buf_add_resp_arg(dh_buf_t *b, const char *s, size_t n)
{
    dh_buf_add_resp_len(b, n);
    dh_buf_add(b, s, n);
    dh_buf_add(b, "\r\n", 2);
}

char *dh_buf_take(dh_buf_t *b)
{
    char *p = b->oom ? NULL : b->p;

    if (b->oom) {
        free(b->p);
    }
    *b = (dh_buf_t)DH_BUF_INIT;
    return p;
}

void dh_buf_free(dh_buf_t *b)
{
    free(b->p);
    *b = (dh_buf_t)DH_BUF_INIT;
}
