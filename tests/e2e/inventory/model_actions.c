/*
 * The inventory model test's actions file (DH_MODEL_REPLAY): one action per line, every
 * parameter needed to perform it again, so a trace can be replayed and shrunk
 * (tests/e2e/model-shrink.sh). Lines starting with '#' are comments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inventory_model.h"

static const char *const act_name[A_COUNT] = {
    "putaway", "move", "order", "allocate", "pick",   "dispatch", "cancel", "flush",
    "sync",    "kill", "pause", "quiesce",  "refund", "resume",   "initial"};
static const char *const dir_name[3] = {"online->offline", "offline->online", "online->online"};
static const char *const box_name[2] = {"stock", "dispatch"};
static const char *const worker_name[2] = {"dh-inventory", "dh-dispatch"};

void act_format(const act_t *a, char *buf, size_t size)
{
    const char *n = act_name[a->kind];

    switch (a->kind) {
    case A_INITIAL:
        snprintf(buf, size, "%s F%d MK-%d G %d S %d", n, a->f + 1, a->k, a->q, a->s);
        break;
    case A_PUTAWAY:
        snprintf(buf, size, "%s F%d MK-%d +%d", n, a->f + 1, a->k, a->q);
        break;
    case A_MOVE:
        snprintf(buf, size, "%s F%d MK-%d %s %d", n, a->f + 1, a->k, dir_name[a->dir], a->q);
        break;
    case A_ORDER:
        snprintf(buf, size, "%s #%d F%d MK-%d x%d", n, a->o, a->f + 1, a->k, a->q);
        break;
    case A_FLUSH:
        snprintf(buf, size, "%s %s %d", n, box_name[a->b], a->q);
        break;
    case A_KILL:
    case A_PAUSE:
    case A_RESUME:
        snprintf(buf, size, "%s %s", n, worker_name[a->b]);
        break;
    case A_SYNC:
    case A_QUIESCE:
        snprintf(buf, size, "%s", n);
        break;
    default: /* allocate, pick, dispatch, cancel, refund */
        snprintf(buf, size, "%s #%d", n, a->o);
    }
}

static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], s) == 0) {
            return i;
        }
    }
    return -1;
}

/* The arguments after the action's name; \p end: the whole line was read. */
static int parse_args(act_t *a, const char *rest)
{
    char w[32] = "";
    int end = -1, f = 0, ok;

    switch (a->kind) {
    case A_INITIAL:
        ok = sscanf(rest, " F%d MK-%d G %d S %d %n", &f, &a->k, &a->q, &a->s, &end) == 4;
        ok = ok && a->q >= 0 && a->s >= 0;
        break;
    case A_PUTAWAY:
        ok = sscanf(rest, " F%d MK-%d +%d %n", &f, &a->k, &a->q, &end) == 3;
        break;
    case A_MOVE:
        ok = sscanf(rest, " F%d MK-%d %31s %d %n", &f, &a->k, w, &a->q, &end) == 4;
        a->dir = index_of(dir_name, 3, w);
        ok = ok && a->dir >= 0;
        break;
    case A_ORDER:
        ok = sscanf(rest, " #%d F%d MK-%d x%d %n", &a->o, &f, &a->k, &a->q, &end) == 4;
        break;
    case A_FLUSH:
        ok = sscanf(rest, " %31s %d %n", w, &a->q, &end) == 2;
        a->b = index_of(box_name, 2, w);
        return ok && a->b >= 0 && a->q >= 1 && rest[end] == '\0';
    case A_KILL:
    case A_PAUSE:
    case A_RESUME:
        ok = sscanf(rest, " %31s %n", w, &end) == 1;
        a->b = index_of(worker_name, 2, w);
        return ok && a->b >= 0 && rest[end] == '\0';
    case A_SYNC:
    case A_QUIESCE:
        return sscanf(rest, " %n", &end) == 0 && rest[end] == '\0';
    default:
        ok = sscanf(rest, " #%d %n", &a->o, &end) == 1;
        return ok && a->o >= 0 && a->o < MAXORD && rest[end] == '\0';
    }
    a->f = f - 1;
    return ok && rest[end] == '\0' && a->f >= 0 && a->f < NFAC && a->k >= 0 && a->k < NSKU &&
           (a->kind == A_INITIAL || a->q >= 1) && a->o >= 0 && a->o < MAXORD;
}

int act_parse(const char *line, act_t *a)
{
    char name[32];
    int n = 0;

    *a = (act_t){0};
    while (*line == ' ' || *line == '\t') {
        line++;
    }
    if (*line == '\0' || *line == '#') {
        return 0;
    }
    if (sscanf(line, "%31s%n", name, &n) != 1) {
        return -1;
    }
    a->kind = index_of(act_name, A_COUNT, name);
    return a->kind >= 0 && parse_args(a, line + n) ? 1 : -1;
}

int acts_read(const char *path, act_t **acts, int **lines, int *n, char *why, size_t size)
{
    FILE *fp = fopen(path, "r");
    char buf[512];
    int rc = 0, line = 0, cap = 0;

    *acts = NULL;
    *lines = NULL;
    *n = 0;
    if (!fp) {
        snprintf(why, size, "cannot read the actions file %s", path);
        return -1;
    }
    while (rc == 0 && fgets(buf, sizeof(buf), fp)) {
        act_t a;
        int r;

        line++;
        buf[strcspn(buf, "\r\n")] = '\0';
        r = act_parse(buf, &a);
        if (r < 0) {
            snprintf(why, size, "%s line %d: not an action: '%s'", path, line, buf);
            rc = -1;
        } else if (r > 0) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                *acts = realloc(*acts, (size_t)cap * sizeof(**acts));
                *lines = realloc(*lines, (size_t)cap * sizeof(**lines));
                assert_non_null(*acts);
                assert_non_null(*lines);
            }
            (*lines)[*n] = line;
            (*acts)[(*n)++] = a;
        }
    }
    fclose(fp);
    return rc;
}

void acts_add(model_t *m, const act_t *a)
{
    if (m->nacts == m->cacts) {
        m->cacts = m->cacts ? 2 * m->cacts : 128;
        m->acts = realloc(m->acts, (size_t)m->cacts * sizeof(*m->acts));
        assert_non_null(m->acts);
    }
    m->acts[m->nacts++] = *a;
}

int acts_write(model_t *m, const char *path, const char *header)
{
    FILE *fp = fopen(path, "w");
    char line[128];

    if (!fp) {
        return -1;
    }
    fputs(header, fp);
    for (int i = 0; i < m->nacts; i++) {
        act_format(&m->acts[i], line, sizeof(line));
        fprintf(fp, "%s\n", line);
    }
    return fclose(fp) == 0 ? 0 : -1;
}

/* The check a failure violated, as tests/e2e/model-shrink.sh compares them. */
const char *failed_check(const char *why)
{
    return strncmp(why, "OVERSOLD", 8) == 0    ? "oversold"
           : strncmp(why, "NOT EQUAL", 9) == 0 ? "not-equal"
                                               : "error";
}

/* The environment a replay of this run needs (the knobs that change the stack's behaviour). */
static void replay_env(model_t *m, char *buf, size_t size)
{
    const char *fence = getenv("DH_MODEL_FENCE_MS");

    snprintf(buf, size, "DH_MODEL_WMS=%s%s%s%s", m->picked_mode ? "picked" : "legacy",
             m->refunds ? "" : " DH_MODEL_REFUNDS=0", fence ? " DH_MODEL_FENCE_MS=" : "",
             fence ? fence : "");
}

/* The actions file of a failed run (the failing action last), and how to replay and shrink
 * it. */
void write_actions(model_t *m, const char *origin, const char *why)
{
    char path[300], head[2200], env[200], self[512] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    self[n > 0 ? n : 0] = '\0';
    replay_env(m, env, sizeof(env));
    snprintf(path, sizeof(path), "%.280s.actions", m->log[W_INV]);
    snprintf(head, sizeof(head),
             "# inventory model actions (DH_MODEL_REPLAY, tests/e2e/test_inventory_model.c)\n"
             "# from %s, %s\n# failed check: %s: %.1000s\n",
             origin, env, failed_check(why), why);
    if (acts_write(m, path, head)) {
        fprintf(stderr, "cannot write %s\n", path);
        return;
    }
    fprintf(stderr,
            "actions: %s (%d)\nreplay actions: %s DH_MODEL_REPLAY=%s %s\n"
            "shrink: %s BUILD=%s tests/e2e/model-shrink.sh %s\n",
            path, m->nacts, env, path, self, env, th_env_or("DH_TEST_BUILD_DIR", "build"), path);
}
