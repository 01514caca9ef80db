/*
 * http: the sandbox's HTTP server (libmicrohttpd, thread per connection): body
 * accumulation with a cap, routing to the Shopify, WMS, Return Prime and control
 * handlers, fault injection and journaling of every request.
 */
#ifndef DH_SB_HTTP_H
#define DH_SB_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "state.h"

/** Largest accepted request body; larger bodies get 413. */
#define DH_SB_MAX_BODY (10u * 1024u * 1024u)

typedef struct dh_sb_req {
    const char *method;
    const char *path; /**< URL path without the query string */
    const char *body; /**< NUL-terminated */
    size_t body_len;
    void *conn;   /**< struct MHD_Connection * */
    json_t *note; /**< journal extras set by handlers: op, shop, idempotency_key */
} dh_sb_req_t;

typedef struct dh_sb_resp {
    int status;
    char *body; /**< malloc()ed, owned by the response */
    char content_type[64];
    json_t *headers; /**< extra response headers: name -> string */
} dh_sb_resp_t;

typedef struct dh_sb_server_s dh_sb_server_t;

/** @brief Header value (case-insensitive name) or NULL. */
const char *dh_sb_req_header(const dh_sb_req_t *req, const char *name);

/** @brief Query-string argument or NULL. */
const char *dh_sb_req_query(const dh_sb_req_t *req, const char *name);

/** @brief Set a JSON response; \p body is stolen. */
void dh_sb_resp_json(dh_sb_resp_t *resp, int status, json_t *body);

/** @brief Set an RFC 9457 problem+json response; \p errors (stolen) may be NULL. */
void dh_sb_resp_problem(dh_sb_resp_t *resp, int status, const char *type, const char *title,
                        const char *detail, json_t *errors);

/** @brief Start listening on \p host:\p port; NULL on failure (errstr says why). */
dh_sb_server_t *dh_sb_server_start(dh_sb_state_t *st, const char *host, unsigned port, char *errstr,
                                   size_t errstr_size);

/** @brief Stop the server and wait for its threads; NULL does nothing. */
void dh_sb_server_stop(dh_sb_server_t *srv);

#endif
