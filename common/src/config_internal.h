/*
 * Private to config.c and config_print.c: the loaded configuration's representation and
 * the helpers both need.
 */
#ifndef DH_CONFIG_INTERNAL_H
#define DH_CONFIG_INTERNAL_H

#include <stddef.h>

#include "dockhand/config.h"

#define REDACTED     "<redacted>"
#define URL_REDACTED "***" /* replaces the password of scheme://user:password@host */
#define FILE_SUFFIX  "_FILE"

typedef struct entry {
    char *name;  /**< Environment name: "DH_LANES", "KAFKA_BOOTSTRAP_SERVERS". */
    char *prop;  /**< librdkafka property for KAFKA_* entries, else NULL. */
    char *value; /**< Never NULL; "" when unset. */
    int secret;
    int bad; /**< A problem was reported for it: checks' further problems are dropped. */
} entry_t;

struct dh_config_s {
    entry_t *vars; /**< Table variables, in table order, first occurrence of each name. */
    size_t nvars;
    entry_t *kafka; /**< KAFKA_* passthrough, sorted by property. */
    size_t nkafka;
};

/** The variable \p name (first \p len bytes) of \p tables, or NULL. */
const dh_config_var_t *dh_cfg_find_var(const dh_config_var_t *const *tables, const char *name,
                                       size_t len);

/** "http|https" -> "http:// or https://". */
void dh_cfg_schemes_text(const char *choices, char *buf, size_t size);

#endif
