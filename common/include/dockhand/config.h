/*
 * Configuration from the environment only. A worker's configuration is one or more
 * tables of {name, default, type, bounds, doc}; dh_config_load() reads the environment
 * once, validates every variable and reports all problems together. The resulting
 * dh_config_t is immutable and safe to read from any thread.
 *
 * Rules: an empty value counts as unset; a variable NAME of type DH_CFG_SECRET may
 * instead come from the file named by NAME_FILE (trailing newline stripped); secrets
 * are never printed. KAFKA_<PROP> variables pass through to librdkafka as
 * <prop> with '_' turned into '.' and lower-cased (KAFKA_BOOTSTRAP_SERVERS ->
 * bootstrap.servers). This module is the only place that reads the environment.
 */
#ifndef DH_CONFIG_H
#define DH_CONFIG_H

#include <stdio.h>

#include "dockhand/err.h"

typedef enum dh_cfg_type {
    DH_CFG_STRING,
    DH_CFG_INT,    /**< Decimal integer within [min, max]. */
    DH_CFG_BOOL,   /**< true/false/1/0/yes/no/on/off. */
    DH_CFG_SECRET, /**< Like STRING, also from NAME_FILE, redacted in dumps. */
    DH_CFG_ENUM,   /**< One of the '|'-separated words in `choices`. */
} dh_cfg_type_t;

typedef struct dh_config_var {
    const char *name; /**< Environment variable, e.g. "DH_LANES". */
    dh_cfg_type_t type;
    const char *def;     /**< Default as text; NULL means required. "" means empty/off. */
    long long min, max;  /**< Bounds for DH_CFG_INT (ignored otherwise). */
    const char *choices; /**< For DH_CFG_ENUM: "a|b|c". */
    const char *doc;     /**< One line for --help and docs/configuration.md. */
} dh_config_var_t;

/** Tables end with an entry whose name is NULL. */
#define DH_CONFIG_END                                                                              \
    {                                                                                              \
        NULL, DH_CFG_STRING, NULL, 0, 0, NULL, NULL                                                \
    }

typedef struct dh_config_s dh_config_t;

/**
 * @brief Read and validate the variables of every table in \p tables (NULL-terminated
 *        array of tables) from \p envp (a NULL-terminated "NAME=value" array, normally
 *        `environ`).
 * @param out       The configuration (caller frees with dh_config_destroy()), or NULL.
 * @param problems  On DH_ERR_CONFIG: a newly allocated text listing every bad variable,
 *                  one per line, naming it and saying why (caller free()s). NULL on success.
 * @returns DH_OK, DH_ERR_CONFIG or DH_ERR_NOMEM.
 */
DH_NODISCARD dh_err_t dh_config_load(const dh_config_var_t *const *tables, char *const *envp,
                                     dh_config_t **out, char **problems);

void dh_config_destroy(dh_config_t *cfg);

/** @brief Value of \p name (borrowed for the life of \p cfg); "" when unset with no default.
 *  @remark Asking for a name that is in no table is a bug: returns NULL. */
const char *dh_config_get(const dh_config_t *cfg, const char *name);
long long dh_config_int(const dh_config_t *cfg, const char *name);
int dh_config_bool(const dh_config_t *cfg, const char *name);

/** @brief Call \p fn for each KAFKA_* variable as a librdkafka (property, value) pair.
 *  Stops and returns the first non-zero value \p fn returns. */
int dh_config_kafka_each(const dh_config_t *cfg,
                         int (*fn)(const char *prop, const char *value, void *ud), void *ud);

/** @brief Print the table(s) as the --help text (name, default, meaning). */
void dh_config_print_help(FILE *fp, const char *program, const dh_config_var_t *const *tables);

/** @brief Print the tables as a Markdown table (docs/configuration.md is checked against it). */
void dh_config_print_markdown(FILE *fp, const dh_config_var_t *const *tables);

/** @brief Print the effective configuration, secrets redacted. */
void dh_config_dump(FILE *fp, const dh_config_t *cfg);

/**
 * @brief The command line every dockhand binary shares: --help, --config-markdown,
 *        --check-config, --dump-config, or nothing (run). Loads the configuration from the
 *        environment and prints problems.
 * @param out  On -1: the loaded configuration (caller destroys it).
 * @returns -1 to go on and run, else the exit code (0 after --help and friends, 2 for bad
 *          arguments or configuration).
 */
int dh_config_cli(int argc, char **argv, const char *prog, const dh_config_var_t *const *tables,
                  dh_config_t **out);

#endif
