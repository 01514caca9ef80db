/*
 * HTTP client on one reused libcurl easy handle per thread (see dockhand/http.h). The
 * handle keeps its connection cache, so consecutive requests to the same host reuse a
 * keep-alive connection. Responses are capped (CURLOPT_MAXFILESIZE when the length is
 * announced, the write callback otherwise). Error text carries the method and the URL
 * without userinfo, query or fragment, since those may hold secrets; request headers are
 * never copied anywhere.
 */
#include "dockhand/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BODY_INITIAL 4096

struct dh_http_s {
    CURL *curl;
    dh_http_opts_t opts;
    char curl_err[CURL_ERROR_SIZE]; /**< CURLOPT_ERRORBUFFER */
    char errstr[512];
    /* State of the request in progress. */
    char *buf;
    size_t len;
    size_t cap;
    int over_cap; /**< The write callback refused data past max_body. */
    int nomem;    /**< The write callback could not grow the buffer. */
    dh_http_resp_t *resp;
};

dh_err_t dh_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? DH_OK : DH_ERR_NOMEM;
}

void dh_http_global_cleanup(void)
{
    curl_global_cleanup();
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    dh_http_t *h = userdata;
    size_t n = size * nmemb;
    size_t want;
    char *grown;

    if (n > h->opts.max_body - h->len) {
        h->over_cap = 1;
        return 0; /* curl aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (h->len + n + 1 > h->cap) {
        want = h->cap > 0 ? h->cap : BODY_INITIAL;
        while (want < h->len + n + 1) {
            want *= 2;
        }
        if (want > h->opts.max_body + 1) {
            want = h->opts.max_body + 1;
        }
        grown = realloc(h->buf, want);
        if (grown == NULL) {
            h->nomem = 1;
            return 0;
        }
        h->buf = grown;
        h->cap = want;
    }
    memcpy(h->buf + h->len, data, n);
    h->len += n;
    return n;
}

/* Copies a header value, trimming surrounding whitespace and the CRLF. */
static void header_value(const char *v, size_t len, char *out, size_t out_size)
{
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)v[len - 1])) {
        len--;
    }
    if (len >= out_size) {
        len = out_size - 1;
    }
    memcpy(out, v, len);
    out[len] = '\0';
}

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). -1 if unparsable. */
static long parse_retry_after(const char *v)
{
    char *end = NULL;
    long secs;
    time_t when;

    if (isdigit((unsigned char)v[0])) {
        secs = strtol(v, &end, 10);
        return (*end == '\0' && secs >= 0) ? secs : -1;
    }
    when = curl_getdate(v, NULL);
    if (when == (time_t)-1) {
        return -1;
    }
    return when > time(NULL) ? (long)(when - time(NULL)) : 0;
}

static int header_is(const char *line, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    return len > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
    dh_http_t *h = userdata;
    size_t n = size * nmemb;
    char value[128];

    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue, say): forget the previous one's headers. */
        h->resp->retry_after_s = -1;
        h->resp->content_type[0] = '\0';
        h->resp->idempotent_replayed = 0;
    } else if (header_is(line, n, "Retry-After")) {
        header_value(line + 12, n - 12, value, sizeof(value));
        h->resp->retry_after_s = parse_retry_after(value);
    } else if (header_is(line, n, "Content-Type")) {
        header_value(line + 13, n - 13, h->resp->content_type, sizeof(h->resp->content_type));
    } else if (header_is(line, n, "Idempotent-Replayed")) {
        header_value(line + 20, n - 20, value, sizeof(value));
        h->resp->idempotent_replayed = strcasecmp(value, "true") == 0;
    }
    return n;
}

dh_http_t *dh_http_new(const dh_http_opts_t *opts, char *errstr, size_t errstr_size)
{
    dh_http_t *h = calloc(1, sizeof(*h));
    int failed = 0;

    if (h == NULL) {
        snprintf(errstr, errstr_size, "http: out of memory");
        return NULL;
    }
    h->opts = *opts;
    if (h->opts.max_body == 0) {
        h->opts.max_body = (size_t)16 * 1024 * 1024; /* never unbounded */
    }
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        snprintf(errstr, errstr_size, "http: curl_easy_init failed");
        free(h);
        return NULL;
    }
    /* Options that never change; per-request ones are set in dh_http_request(). */
    failed |= curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    failed |= curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->curl_err) != CURLE_OK;
    failed |=
        curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, opts->connect_timeout_ms) != CURLE_OK;
    failed |= curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, opts->timeout_ms) != CURLE_OK;
    failed |= curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    failed |= curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    failed |= curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    failed |= curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h) != CURLE_OK;
    failed |= curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
    failed |= curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h) != CURLE_OK;
    failed |= curl_easy_setopt(h->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->opts.max_body) !=
              CURLE_OK;
    if (failed) {
        snprintf(errstr, errstr_size, "http: curl_easy_setopt failed");
        dh_http_destroy(h);
        return NULL;
    }
    return h;
}

void dh_http_destroy(dh_http_t *h)
{
    if (h == NULL) {
        return;
    }
    curl_easy_cleanup(h->curl);
    free(h->buf);
    free(h);
}

const char *dh_http_errstr(const dh_http_t *h)
{
    return h != NULL ? h->errstr : "http: no handle";
}

void dh_http_resp_clear(dh_http_resp_t *resp)
{
    if (resp == NULL) {
        return;
    }
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
    resp->retry_after_s = -1;
}

/* "scheme://host:port/path" of url: no userinfo, query or fragment. */
static void redact_url(const char *url, char *out, size_t out_size)
{
    const char *p = strstr(url, "://");
    const char *auth = p != NULL ? p + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', auth_len);
    const char *host = at != NULL ? at + 1 : auth;
    size_t path_len = strcspn(auth + auth_len, "?#");

    snprintf(out, out_size, "%.*s%.*s%.*s", (int)(auth - url), url, (int)(auth + auth_len - host),
             host, (int)path_len, auth + auth_len);
}

static dh_err_t map_result(dh_http_t *h, CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return DH_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return DH_ERR_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return DH_ERR_LIMIT;
    case CURLE_WRITE_ERROR:
        if (h->over_cap) {
            return DH_ERR_LIMIT;
        }
        return h->nomem ? DH_ERR_NOMEM : DH_ERR_IO;
    case CURLE_OUT_OF_MEMORY:
        return DH_ERR_NOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return DH_ERR_INVALID;
    default:
        return DH_ERR_IO; /* connect, resolve, send, recv, TLS... */
    }
}

/* Sets method and body; the handle is reused, so every call resets what others set. */
static CURLcode set_method(CURL *c, const char *method, const char *body, size_t body_len)
{
    CURLcode rc;
    int has_body = body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;

    rc = curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    if (rc == CURLE_OK && has_body) {
        rc = curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (rc == CURLE_OK) {
            /* Explicit size: bodies may be binary. POSTFIELDS is not copied: the
             * transfer completes before we return. */
            rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        }
        if (rc == CURLE_OK) {
            rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        }
    } else if (rc == CURLE_OK && strcmp(method, "HEAD") != 0) {
        rc = curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    if (rc == CURLE_OK) {
        int standard = strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ||
                       strcmp(method, "HEAD") == 0;
        rc = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, standard ? NULL : method);
    }
    return rc;
}

/* Builds the request header list; "Expect:" stops curl's 100-continue round trip. */
static dh_err_t build_headers(const char *const *headers, struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    struct curl_slist *next;

    *out = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        next = curl_slist_append(list, headers[i]);
        if (next == NULL) {
            curl_slist_free_all(list);
            return DH_ERR_NOMEM;
        }
        list = next;
    }
    next = curl_slist_append(list, "Expect:");
    if (next == NULL) {
        curl_slist_free_all(list);
        return DH_ERR_NOMEM;
    }
    *out = next;
    return DH_OK;
}

static void set_error(dh_http_t *h, const char *method, const char *url, dh_err_t err, CURLcode rc)
{
    char safe_url[256];
    const char *why = h->curl_err[0] != '\0' ? h->curl_err : curl_easy_strerror(rc);

    redact_url(url, safe_url, sizeof(safe_url));
    if (err == DH_ERR_LIMIT) {
        why = "response body over the size cap";
    } else if (err == DH_ERR_NOMEM && rc == CURLE_WRITE_ERROR) {
        why = "out of memory for the response body";
    }
    snprintf(h->errstr, sizeof(h->errstr), "http %.16s %.200s: %.250s", method, safe_url, why);
}

/* Hands the accumulated body to resp (always NUL-terminated, "" when empty). */
static dh_err_t take_body(dh_http_t *h, dh_http_resp_t *resp)
{
    if (h->buf == NULL) {
        h->buf = malloc(1);
        if (h->buf == NULL) {
            return DH_ERR_NOMEM;
        }
    }
    h->buf[h->len] = '\0';
    resp->body = h->buf;
    resp->body_len = h->len;
    h->buf = NULL;
    h->len = 0;
    h->cap = 0;
    return DH_OK;
}

dh_err_t dh_http_request(dh_http_t *h, const char *method, const char *url,
                         const char *const *headers, const char *body, size_t body_len,
                         dh_http_resp_t *resp)
{
    struct curl_slist *hdrs = NULL;
    dh_err_t err;
    CURLcode rc;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after_s = -1;
    h->curl_err[0] = '\0';
    h->errstr[0] = '\0';
    h->len = 0;
    h->over_cap = 0;
    h->nomem = 0;
    h->resp = resp;
    err = build_headers(headers, &hdrs);
    if (err != DH_OK) {
        snprintf(h->errstr, sizeof(h->errstr), "http %s: out of memory", method);
        goto out;
    }
    rc = curl_easy_setopt(h->curl, CURLOPT_URL, url);
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    }
    if (rc == CURLE_OK) {
        rc = set_method(h->curl, method, body, body_len);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_perform(h->curl);
    }
    err = map_result(h, rc);
    if (err == DH_OK) {
        err = take_body(h, resp);
        rc = CURLE_OUT_OF_MEMORY;
    }
    if (err != DH_OK) {
        set_error(h, method, url, err, rc);
        goto out;
    }
    (void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
out:
    /* The list is ours; the handle must not point at it once freed. */
    (void)curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    (void)curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(hdrs);
    h->resp = NULL;
    if (err != DH_OK) {
        free(resp->body);
        memset(resp, 0, sizeof(*resp));
        resp->retry_after_s = -1;
    }
    return err;
}
