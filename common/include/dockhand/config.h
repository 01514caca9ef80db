/*
 * Configuration from the environment only. A worker's configuration is one or more
 * tables of {name, default, type, bounds, doc}; dh_config_load() reads the environment
 * once, validates every variable and reports all problems together. The resulting
 * dh_config_t is immutable and safe to read from any thread.
 *
 * Rules: an empty value counts as unset; a variable NAME of type DH_CFG_SECRET may
 * instead come from the file named by NAME_FILE (trailing newline stripped); secrets
 * are never printed, nor are credentials embedded in URLs. KAFKA_<PROP> variables pass
 * through to librdkafka as <prop> with '_' turned into '.' and lower-cased
 * (KAFKA_BOOTSTRAP_SERVERS -> bootstrap.servers). Checks beyond a variable's type (a
 * stores file that must parse, a rate list, a time zone) are dh_config_check_fn callbacks
 * run by the same load, so --check-config and a real start find the same problems. This
 * module is the only place that reads the environment.
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
    DH_CFG_URL,    /**< scheme://rest with a scheme from the '|'-separated `choices`
                        ("http|https"); user:password@ in it is redacted in dumps. */
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

/** Where a check adds problems; see dh_config_report(). */
typedef struct dh_config_report_s dh_config_report_t;

/**
 * @brief A check beyond the variables' types (e.g. the stores file parses, DH_WMS_RATE is
 *        a valid list). Runs on every load, also when other variables are bad (those read
 *        as their defaults' type-zero: "" or 0); it reports with dh_config_report().
 */
typedef void (*dh_config_check_fn)(const dh_config_t *cfg, dh_config_report_t *report);

/**
 * @brief Add the problem "NAME: why" to the load's report. A variable is reported once:
 *        a later problem of a variable already found bad (by its type or another check)
 *        is dropped, so a check need not test whether its input was valid.
 */
void dh_config_report(dh_config_report_t *report, const char *name, const char *fmt, ...)
    DH_PRINTF(3, 4);

/** @brief 1 if \p tz names a time zone this host resolves: UTC, GMT, a POSIX TZ string
 *  (with an offset, e.g. IST-5:30) or an IANA name present in the zoneinfo database. */
int dh_config_tz_valid(const char *tz);

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

/** @brief dh_config_load(), then every check of \p checks (NULL-terminated, may be NULL);
 *  their problems join the same report. */
DH_NODISCARD dh_err_t dh_config_load_checked(const dh_config_var_t *const *tables,
                                             const dh_config_check_fn *checks, char *const *envp,
                                             dh_config_t **out, char **problems);

void dh_config_destroy(dh_config_t *cfg);

/** @brief Value of \p name (borrowed for the life of \p cfg); "" when unset with no default.
 *  @remark Asking for a name that is in no table is a bug: returns NULL. */
const char *dh_config_get(const dh_config_t *cfg, const char *name);
long long dh_config_int(const dh_config_t *cfg, const char *name);
int dh_config_bool(const dh_config_t *cfg, const char *name);

/** @brief The next item of the comma-separated list at *\p p, blanks trimmed: its length
 *  (*\p s its start; *\p p moves past it), or -1 at the end of the list. */
long dh_config_list_next(const char **p, const char **s);

/**
 * @brief A per-store policy: \p spec is "<default>[,<store>=<value>...]" and each value is
 *        \p v0 or \p v1 (e.g. "skip,dev.myshopify.com=send"; store names compare
 *        case-insensitively).
 * @returns 0 for \p v0, 1 for \p v1 (the store's value, else the default), -1 if \p spec
 *          is malformed (the reason in \p errstr, may be NULL).
 */
int dh_config_policy(const char *spec, const char *store, const char *v0, const char *v1,
                     char *errstr, size_t errstr_size);

/** @brief Call \p fn for each KAFKA_* variable as a librdkafka (property, value) pair.
 *  Stops and returns the first non-zero value \p fn returns. */
int dh_config_kafka_each(const dh_config_t *cfg,
                         int (*fn)(const char *prop, const char *value, void *ud), void *ud);

/** @brief Print the table(s) as the --help text (name, default, meaning). */
void dh_config_print_help(FILE *fp, const char *program, const dh_config_var_t *const *tables);

/** @brief Print the tables as a Markdown table (docs/configuration.md is checked against it). */
void dh_config_print_markdown(FILE *fp, const dh_config_var_t *const *tables);

/** @brief Print the effective configuration: secrets and the password (or bare user) part
 *  of any scheme://user:password@host in a value are redacted. */
void dh_config_dump(FILE *fp, const dh_config_t *cfg);

/**
 * @brief The command line every dockhand binary shares: --help, --config-markdown,
 *        --check-config, --dump-config, or nothing (run). Loads the configuration from the
 *        environment, runs \p checks (see dh_config_load_checked()) and prints problems.
 * @param out  On -1: the loaded configuration (caller destroys it).
 * @returns -1 to go on and run, else the exit code (0 after --help and friends, 2 for bad
 *          arguments or configuration).
 */
int dh_config_cli(int argc, char **argv, const char *prog, const dh_config_var_t *const *tables,
                  const dh_config_check_fn *checks, dh_config_t **out);

#endif
