/*
 * util: clock, crypto and random helpers for the sandbox (see util.h).
 */
#include "util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_state;

const char *dh_sb_err_str(dh_sb_err_t err)
{
    switch (err) {
    case DH_SB_OK:
        return "ok";
    case DH_SB_ERR_NOMEM:
        return "out of memory";
    case DH_SB_ERR_PARSE:
        return "parse error";
    case DH_SB_ERR_CONFIG:
        return "configuration error";
    case DH_SB_ERR_IO:
        return "i/o error";
    }
    return "unknown error";
}

static double clock_secs(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double dh_sb_mono_now(void)
{
    return clock_secs(CLOCK_MONOTONIC);
}

double dh_sb_bucket_now(void)
{
    return clock_secs(CLOCK_REALTIME);
}

void dh_sb_iso_now(char *buf, size_t len)
{
    /* Not time(): it reads the kernel's coarse clock, up to a tick behind CLOCK_REALTIME,
     * so a change made just after a second began was stamped with the second before. */
    struct timespec ts;
    struct tm tm;
    time_t t;

    clock_gettime(CLOCK_REALTIME, &ts);
    t = ts.tv_sec;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

double dh_sb_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)(ts.tv_nsec / 1000) / 1e3;
}

void dh_sb_sleep_ms(long ms, const volatile int *stop)
{
    while (ms > 0 && !(stop && *stop)) {
        long step = ms > 100 ? 100 : ms;
        struct timespec ts = {step / 1000, (step % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        ms -= step;
    }
}

dh_sb_err_t dh_sb_hmac_sha256(const void *key, size_t key_len, const void *data, size_t data_len,
                              unsigned char out[32])
{
    unsigned int out_len = 32;

    if (!HMAC(EVP_sha256(), key, (int)key_len, data, data_len, out, &out_len)) {
        return DH_SB_ERR_IO;
    }
    return DH_SB_OK;
}

void dh_sb_base64(const unsigned char *in, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

void dh_sb_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void dh_sb_uuid(char out[37])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof b) != 1) {
        for (size_t i = 0; i < sizeof b; i++) {
            b[i] = (unsigned char)(dh_sb_rand01() * 256.0);
        }
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

double dh_sb_rand01(void)
{
    uint64_t x;

    pthread_mutex_lock(&rng_lock);
    if (rng_state == 0) {
        rng_state = (uint64_t)time(NULL) * 2654435761u + 88172645463325252ull;
    }
    x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    pthread_mutex_unlock(&rng_lock);
    return (double)(x >> 11) / 9007199254740992.0;
}
