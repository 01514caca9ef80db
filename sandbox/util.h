/*
 * util: small helpers shared by the sandbox modules: error codes, clock,
 * HMAC-SHA256, base64/hex, UUIDs, a locked PRNG. No I/O, no state except the PRNG.
 */
#ifndef DH_SB_UTIL_H
#define DH_SB_UTIL_H

#include <stddef.h>

#include <stdint.h>

typedef enum {
    DH_SB_OK = 0,
    DH_SB_ERR_NOMEM,
    DH_SB_ERR_PARSE,
    DH_SB_ERR_CONFIG,
    DH_SB_ERR_IO
} dh_sb_err_t;

/** @brief Human-readable name of an error code (static string). */
const char *dh_sb_err_str(dh_sb_err_t err);

/** @brief Monotonic time in seconds (CLOCK_MONOTONIC). */
double dh_sb_mono_now(void);

/**
 * @brief Now, in seconds of the wall clock (CLOCK_REALTIME): the clock of the stores' buckets.
 * Shopify refills a bucket on its own clock, which no document names; the wall clock is the
 * one Redis's TIME reads, so a client sharing a bucket model in Redis and the sandbox on one
 * machine count the same elapsed time (the monotonic clock may drift from it in a VM).
 */
double dh_sb_bucket_now(void);

/** @brief Current wall time as ISO-8601 UTC "YYYY-MM-DDTHH:MM:SSZ" into \p buf (>= 21 bytes). */
void dh_sb_iso_now(char *buf, size_t len);
/** @brief Wall-clock milliseconds since the epoch, to the microsecond: the journal's `time_ms`
 * (`time` has whole seconds), comparable with a producer's clock on the same machine. */
double dh_sb_wall_ms(void);

/** @brief Sleep \p ms milliseconds (nanosleep, restarts on EINTR until \p stop is set). */
void dh_sb_sleep_ms(long ms, const volatile int *stop);

/**
 * @brief HMAC-SHA256 of \p data with \p key; writes 32 bytes into \p out.
 * @returns DH_SB_OK or DH_SB_ERR_IO.
 */
dh_sb_err_t dh_sb_hmac_sha256(const void *key, size_t key_len, const void *data, size_t data_len,
                              unsigned char out[32]);

/** @brief Standard base64 (with padding) of \p len bytes into \p out; needs 4*((len+2)/3)+1 bytes.
 */
void dh_sb_base64(const unsigned char *in, size_t len, char *out);

/** @brief Lower-case hex of \p len bytes into \p out; needs 2*len+1 bytes. */
void dh_sb_hex(const unsigned char *in, size_t len, char *out);

/** @brief A random version-4 UUID into \p out (37 bytes). */
void dh_sb_uuid(char out[37]);

/** @brief A uniform double in [0,1) from a mutex-protected PRNG (thread-safe). */
double dh_sb_rand01(void);

#endif
