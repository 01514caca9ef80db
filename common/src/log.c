/*
 * Structured logging: each call formats one JSON object into a stack buffer and hands it
 * to a single write(2), so lines from different threads never interleave (up to PIPE_BUF
 * for pipes) and nothing allocates. The event context is a thread-local borrowed pointer.
 * This module does not rotate or ship logs: stderr is collected by the platform.
 *
 * The one exception to a write per line is a hold (dh_log_hold_begin/end): a lane logging
 * an INFO line per applied effect, 100,000 times a second, spent a fifth of its time in
 * write(2). While a thread holds, its INFO and DEBUG lines gather in a thread-local buffer
 * of PIPE_BUF bytes, written whole lines at a time (so still never interleaved); a WARN or
 * ERROR line writes what was gathered first, then itself, so the order is kept.
 */
#include "dockhand/log.h"

#include <stdarg.h>

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log_internal.h"

/*
 * Caps on the other fields so that a huge key can never crowd out the message. Escaping
 * grows a byte to at most 6, so the context tail fits in CTX_TAIL_MAX:
 * 6 * (TOPIC_RAW_MAX + KEY_RAW_MAX + FIELD_RAW_MAX) + field names < 4096.
 */
#define CTX_TAIL_MAX  4096
#define TOPIC_RAW_MAX 256
#define KEY_RAW_MAX   256
#define FIELD_RAW_MAX 128
#define ELLIPSIS      "\xe2\x80\xa6" /* U+2026, valid UTF-8 so it needs no escaping. */
#define WORKER_MAX    64

static atomic_int g_level = DH_LOG_INFO;
static atomic_int g_fd = 2;
/* Written once by dh_log_init() before any thread logs (documented in log.h). */
static char g_worker[WORKER_MAX];
static _Thread_local const dh_log_ctx_t *t_ctx;
/* The calling thread's held lines (dh_log_hold_begin): whole lines, at most HOLD_MAX bytes. */
#define HOLD_MAX 4096 /* POSIX PIPE_BUF: a write up to this size to a pipe is atomic */
static _Thread_local char t_hold[HOLD_MAX];
static _Thread_local size_t t_hold_len;
static _Thread_local int t_holding;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* A bounded append-only buffer; `len` never exceeds `cap`. */
typedef struct line {
    char *buf;
    size_t cap;
    size_t len;
} line_t;

static void put_raw(line_t *l, const char *s, size_t n)
{
    if (n > l->cap - l->len) {
        n = l->cap - l->len;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(line_t *l, const char *s)
{
    put_raw(l, s, strlen(s));
}

/*
 * Escape at most `max_in` bytes of `s` as a JSON string body. If the input is longer than
 * `max_in` or does not fit, the escaped prefix is followed by ELLIPSIS (space for it is kept).
 */
static void put_escaped(line_t *l, const char *s, size_t n, size_t max_in, int force_cut)
{
    size_t room = l->cap - l->len;
    size_t reserve = sizeof(ELLIPSIS) - 1;
    size_t take = n < max_in ? n : max_in;
    size_t used = 0;
    size_t wrote;
    int cut = force_cut || take < n;

    if (room < reserve) {
        return;
    }
    /* First try without reserving, so a message that just fits is not cut needlessly. */
    wrote = dh_log_json_escape(l->buf + l->len, room, s, take, &used);
    if (used < take) {
        cut = 1;
    }
    if (cut && wrote > room - reserve) {
        wrote = dh_log_json_escape(l->buf + l->len, room - reserve, s, take, &used);
    }
    l->len += wrote;
    if (cut) {
        put_str(l, ELLIPSIS);
    }
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is invalid or incomplete. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        lo = s[0] == 0xe0 ? 0xa0 : 0x80; /* overlong */
        hi = s[0] == 0xed ? 0x9f : 0xbf; /* UTF-16 surrogates */
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        lo = s[0] == 0xf0 ? 0x90 : 0x80; /* overlong */
        hi = s[0] == 0xf4 ? 0x8f : 0xbf; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }
    return len;
}

/* The escaped form of one input unit into esc[]; returns its length and sets *in_len. */
static size_t escape_unit(const unsigned char *s, size_t n, char esc[8], size_t *in_len)
{
    static const char hex[] = "0123456789abcdef";
    size_t ulen = utf8_len(s, n);

    *in_len = 1;
    if (ulen == 0) {
        memcpy(esc, "\\ufffd", 6);
        return 6;
    }
    if (ulen > 1 || (s[0] >= 0x20 && s[0] != '"' && s[0] != '\\')) {
        memcpy(esc, s, ulen);
        *in_len = ulen;
        return ulen;
    }
    esc[0] = '\\';
    switch (s[0]) {
    case '"':
    case '\\':
        esc[1] = (char)s[0];
        return 2;
    case '\n':
        esc[1] = 'n';
        return 2;
    case '\r':
        esc[1] = 'r';
        return 2;
    case '\t':
        esc[1] = 't';
        return 2;
    default:
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[s[0] >> 4];
        esc[5] = hex[s[0] & 0xf];
        return 6;
    }
}

size_t dh_log_json_escape(char *dst, size_t cap, const char *src, size_t n, size_t *consumed)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t in = 0;
    size_t out = 0;

    while (in < n) {
        char esc[8];
        size_t in_len, run = in;

        /* Most text is printable ASCII with no quote or backslash: copied a run at a time. */
        while (run < n && run - in < cap - out && s[run] >= 0x20 && s[run] < 0x80 &&
               s[run] != '"' && s[run] != '\\') {
            run++;
        }
        if (run > in) {
            memcpy(dst + out, s + in, run - in);
            out += run - in;
            in = run;
            continue;
        }
        size_t elen = escape_unit(s + in, n - in, esc, &in_len);

        if (elen > cap - out) {
            break;
        }
        memcpy(dst + out, esc, elen);
        out += elen;
        in += in_len;
    }
    if (consumed) {
        *consumed = in;
    }
    return out;
}

static void put_field(line_t *l, const char *name, const char *value, size_t n, size_t max_in)
{
    put_str(l, ",\"");
    put_str(l, name);
    put_str(l, "\":\"");
    put_escaped(l, value, n, max_in, 0);
    put_str(l, "\"");
}

/* The context fields, built first so the message can be cut to whatever room is left. */
static void put_context(line_t *l, const dh_log_ctx_t *ctx)
{
    char num[64];

    if (ctx->topic) {
        put_field(l, "topic", ctx->topic, strlen(ctx->topic), TOPIC_RAW_MAX);
        snprintf(num, sizeof(num), ",\"partition\":%" PRId32 ",\"offset\":%" PRId64, ctx->partition,
                 ctx->offset);
        put_str(l, num);
    }
    if (ctx->key) {
        put_field(l, "key", ctx->key, ctx->key_len, KEY_RAW_MAX);
    }
    if (ctx->event_id) {
        put_field(l, "event_id", ctx->event_id, strlen(ctx->event_id), FIELD_RAW_MAX);
    }
}

static void put_header(line_t *l, dh_log_level_t level, const char *component)
{
    /* The date and time to the second, formatted once per second per thread: at 100,000
     * lines a second, gmtime_r() and strftime() per line were a visible share of a lane. */
    static _Thread_local time_t t_sec = -1;
    static _Thread_local char t_when[40];
    struct timespec ts;
    char ms[6];
    long m;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != t_sec) {
        struct tm tm;

        gmtime_r(&ts.tv_sec, &tm);
        strftime(t_when, sizeof(t_when), "%Y-%m-%dT%H:%M:%S", &tm);
        t_sec = ts.tv_sec;
    }
    m = ts.tv_nsec / 1000000;
    ms[0] = '.';
    ms[1] = (char)('0' + m / 100);
    ms[2] = (char)('0' + m / 10 % 10);
    ms[3] = (char)('0' + m % 10);
    ms[4] = 'Z';
    ms[5] = '\0';

    put_str(l, "{\"ts\":\"");
    put_str(l, t_when);
    put_str(l, ms);
    put_str(l, "\",\"level\":\"");
    put_str(l, level_names[level]);
    put_str(l, "\"");
    put_field(l, "worker", g_worker, strlen(g_worker), WORKER_MAX);
    put_field(l, "component", component, strlen(component), FIELD_RAW_MAX);
}

static void write_all(const char *buf, size_t len)
{
    int fd = atomic_load_explicit(&g_fd, memory_order_relaxed);

    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* Nowhere left to report a logging failure. */
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void hold_flush(void)
{
    if (t_hold_len > 0) {
        write_all(t_hold, t_hold_len);
        t_hold_len = 0;
    }
}

/* Writes one whole line now, or gathers it while the thread holds. */
static void emit(dh_log_level_t level, const char *buf, size_t len)
{
    if (!t_holding || level > DH_LOG_INFO || len > HOLD_MAX) {
        hold_flush();
        write_all(buf, len);
        return;
    }
    if (t_hold_len + len > HOLD_MAX) {
        hold_flush();
    }
    memcpy(t_hold + t_hold_len, buf, len);
    t_hold_len += len;
}

void dh_log_hold_begin(void)
{
    t_holding = 1;
}

void dh_log_hold_end(void)
{
    hold_flush();
    t_holding = 0;
}

void dh_log_init(const char *worker, dh_log_level_t level)
{
    snprintf(g_worker, sizeof(g_worker), "%s", worker ? worker : "");
    atomic_store(&g_level, (int)level);
}

dh_err_t dh_log_level_parse(const char *s, dh_log_level_t *out)
{
    if (!s) {
        return DH_ERR_INVALID;
    }
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (dh_log_level_t)i;
            return DH_OK;
        }
    }
    return DH_ERR_INVALID;
}

int dh_log_enabled(dh_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

void dh_log_ctx_set(const dh_log_ctx_t *ctx)
{
    t_ctx = ctx;
}

int dh_log_set_fd(int fd)
{
    return atomic_exchange(&g_fd, fd);
}

void dh_log_write(dh_log_level_t level, const char *component, const char *fmt, ...)
{
    char out[DH_LOG_LINE_MAX];
    char msg[DH_LOG_LINE_MAX];
    char tail_buf[CTX_TAIL_MAX];
    line_t l = {out, sizeof(out), 0};
    line_t tail = {tail_buf, sizeof(tail_buf), 0};
    static const char close_str[] = "\"}\n";
    va_list ap;
    int n;

    if (!dh_log_enabled(level)) {
        return;
    }
    if ((int)level < DH_LOG_DEBUG || level > DH_LOG_ERROR) {
        level = DH_LOG_ERROR;
    }
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = snprintf(msg, sizeof(msg), "(bad log format: %s)", fmt);
    }
    if (t_ctx) {
        put_context(&tail, t_ctx);
    }
    put_header(&l, level, component ? component : "");
    put_str(&l, ",\"msg\":\"");
    /* Leave room for the context fields and the closing `"}\n`. */
    l.cap = sizeof(out) - tail.len - (sizeof(close_str) - 1);
    if (l.cap < l.len) {
        l.cap = l.len; /* Cannot happen with the caps above; keeps put_* from underflowing. */
    }
    put_escaped(&l, msg, strlen(msg), SIZE_MAX, (size_t)n >= sizeof(msg));
    l.cap = sizeof(out);
    put_str(&l, "\"");
    put_raw(&l, tail.buf, tail.len);
    put_str(&l, "}\n");
    emit(level, l.buf, l.len);
}

void dh_log_rdkafka(const struct rd_kafka_s *rk, int level, const char *fac, const char *buf)
{
    dh_log_level_t l = level <= 3 ? DH_LOG_ERROR : level == 4 ? DH_LOG_WARN : DH_LOG_DEBUG;

    /* The client name (e.g. "dockhand-dlq#producer-2") says which of a process's handles
     * spoke; rk may be NULL for lines logged before the handle exists. */
    DH_LOG(l, "librdkafka", "%s %s: %s", rk ? rd_kafka_name(rk) : "-", fac ? fac : "",
           buf ? buf : "");
}
