/*
 * Process series for /metrics (dockhand/procmetrics.h), sampled from /proc/self at each
 * scrape: the on-call's CPU, memory, descriptors and restarts (start time) of a worker.
 */
#include "dockhand/procmetrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef DH_VERSION
#define DH_VERSION "unknown"
#endif

struct dh_procmetrics_s {
    dh_gauge_t *cpu, *rss, *vsize, *fds, *max_fds, *start;
};

const char *dh_build_version(void)
{
    return DH_VERSION;
}

dh_procmetrics_t *dh_procmetrics_new(dh_metrics_t *m)
{
    dh_procmetrics_t *p = calloc(1, sizeof(*p));
    char lbl[200], esc[120];

    if (!p) {
        return NULL;
    }
    p->cpu = dh_metrics_gauge(m, "process_cpu_seconds_total",
                              "User and system CPU time spent, in seconds.", NULL);
    p->rss = dh_metrics_gauge(m, "process_resident_memory_bytes", "Resident memory size.", NULL);
    p->vsize = dh_metrics_gauge(m, "process_virtual_memory_bytes", "Virtual memory size.", NULL);
    p->fds = dh_metrics_gauge(m, "process_open_fds", "Open file descriptors.", NULL);
    p->max_fds = dh_metrics_gauge(m, "process_max_fds", "Limit of open file descriptors.", NULL);
    p->start = dh_metrics_gauge(m, "process_start_time_seconds",
                                "Start time of the process since the epoch, in seconds.", NULL);
    dh_metrics_escape(DH_VERSION, esc, sizeof(esc));
    snprintf(lbl, sizeof(lbl), "version=\"%s\"", esc);
    dh_gauge_set(dh_metrics_gauge(m, "dh_build_info", "The build: version label, value 1.", lbl),
                 1);
    return p;
}

/* Seconds since the epoch at boot, from /proc/stat's btime; 0 if unreadable. */
static double boot_time(void)
{
    char line[256];
    double bt = 0;
    FILE *f = fopen("/proc/stat", "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "btime ", 6)) {
            bt = strtod(line + 6, NULL);
        }
    }
    if (f) {
        fclose(f);
    }
    return bt;
}

/* utime, stime, starttime (ticks), vsize (bytes), rss (pages) from /proc/self/stat. */
static int read_stat(double *cpu_ticks, double *start_ticks, double *vsize, double *rss_pages)
{
    char buf[2048], *p;
    unsigned long long utime, stime, start, vs;
    long long rss;
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

    if (f) {
        fclose(f);
    }
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    /* after ")": state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
                     "%*d %llu %llu %lld",
                     &utime, &stime, &start, &vs, &rss) != 5) {
        return -1;
    }
    *cpu_ticks = (double)(utime + stime);
    *start_ticks = (double)start;
    *vsize = (double)vs;
    *rss_pages = (double)rss;
    return 0;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    double n = 0;

    while (d && (e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    if (d) {
        closedir(d);
        n -= 1; /* the directory's own descriptor */
    }
    return n;
}

void dh_procmetrics_sample(dh_procmetrics_t *p)
{
    double cpu, start, vsize, rss;
    double hz = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    struct rlimit rl;

    if (!p) {
        return;
    }
    if (hz > 0 && read_stat(&cpu, &start, &vsize, &rss) == 0) {
        dh_gauge_set(p->cpu, cpu / hz);
        dh_gauge_set(p->start, boot_time() + start / hz);
        dh_gauge_set(p->vsize, vsize);
        dh_gauge_set(p->rss, rss * page);
    }
    dh_gauge_set(p->fds, open_fds());
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        dh_gauge_set(p->max_fds, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
    }
}

void dh_procmetrics_destroy(dh_procmetrics_t *p)
{
    free(p);
}
