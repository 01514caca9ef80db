/*
 * dh-ops entry point: the configuration (the workers' own variables, read through
 * common/'s config so KAFKA_* security settings mean exactly what they mean to a worker),
 * the shared option parsers and the sub-command table. Invoked as dh-dlq it is
 * `dh-ops dlq` (the old tool's command line keeps working).
 */
#include <stdarg.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dockhand/log.h"
#include "dockhand/stores.h"
#include "dockhand/worker.h"
#include "ops.h"

static const dh_config_var_t *const tables[] = {dh_process_config_vars, dh_stores_config_vars,
                                                ops_config_vars, NULL};
static const dh_config_check_fn checks[] = {dh_process_check_config, NULL};

static const struct {
    const char *name;
    int (*fn)(const ops_t *o, int argc, char **argv);
    const char *usage;
} commands[] = {
    {"lag", ops_lag,
     "lag --group G [--topic T]...         committed offset, end and lag per "
     "partition"},
    {"dlq", ops_dlq, "dlq list|show|redrive <topic>.dlq [filters] [--execute]   dead letters"},
    {"validate", ops_publish,
     "validate --topic T [--key K] FILE...   the consuming worker's "
     "own checks"},
    {"publish", ops_publish, "publish --topic T [--key K] [--header N=V]... FILE [--execute]"},
    {"trace", ops_trace,
     "trace <event id|order id|SKU|effect id|...> [--dlq T]... [--worker W]...   what the runtime "
     "recorded, dead letters"},
    {"sync", ops_sync,
     "sync --store DOMAIN [--sku S... --facility F...] [--execute]   "
     "dh-inventory's full stock sync, or a re-push of those SKUs"},
    {"parked", ops_parked,
     "parked [--worker W]   stores whose events are set aside while their Shopify is in trouble"},
    {"replay", ops_replay,
     "replay --group G --topic T --from TIME [--execute]   move a "
     "stopped group back\n"
     "         replay --topic T --from TIME [--to TIME] [--store D] [--key K] [--sku S]... "
     "(--recheck|--reapply) [--execute]   re-publish copies of selected events"},
};

static int usage(FILE *fp, const char *prog)
{
    fprintf(fp, "usage: %s [--json] <command> ...\n", prog);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(fp, "  %s %s\n", prog, commands[i].usage);
    }
    fprintf(fp, "Writes nothing without --execute. Exit: 0 done, 1 failed, 2 bad arguments or "
                "configuration, 3 refused. docs/runbook.md has every procedure.\n");
    return fp == stdout ? OPS_OK : OPS_USAGE;
}

static int dispatch(ops_t *o, int argc, char **argv)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(argv[0], commands[i].name)) {
            return commands[i].fn(o, argc, argv);
        }
    }
    ops_err(o, "unknown command '%s'", argv[0]);
    return usage(stderr, o->prog);
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    ops_t o = {.prog = base ? base + 1 : argv[0]};
    dh_config_t *cfg = NULL;
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    int n = 0, rc = OPS_FAIL;

    if (!args) {
        goto out;
    }
    /* The old tool: `dh-dlq list|redrive <topic>.dlq ...` is `dh-ops dlq ...`. */
    if (!strcmp(o.prog, "dh-dlq")) {
        args[n++] = "dlq";
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            o.json = 1; /* anywhere on the line */
        } else {
            args[n++] = argv[i];
        }
    }
    if (n && !strcmp(args[0], "--config-markdown")) {
        dh_config_print_markdown(stdout, tables);
        rc = OPS_OK;
        goto out;
    }
    if (n && (!strcmp(args[0], "--help") || !strcmp(args[0], "-h"))) {
        rc = usage(stdout, o.prog);
        dh_config_print_help(stdout, o.prog, tables);
        goto out;
    }
    if (!n || args[0][0] == '-') {
        rc = usage(stderr, o.prog);
        goto out;
    }
    dh_log_init(o.prog, DH_LOG_WARN);
    rc = ops_load_config(&o, tables, checks, "DH_OPS_", &cfg);
    if (rc == OPS_OK) {
        rc = dispatch(&o, n, args);
    }
out:
    dh_config_destroy(cfg);
    free(args);
    return rc;
}
