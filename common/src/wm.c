/* Contiguous-offset watermark: a growable ring of (offset, done) slots. */
#include "wm.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    int64_t offset;
    int done;
};

struct dh_wm_s {
    struct slot *ring;
    size_t cap;    /* power of two */
    uint64_t head; /* seq of the oldest pending slot */
    uint64_t tail; /* seq the next push gets */
};

dh_wm_t *dh_wm_new(void)
{
    dh_wm_t *wm = calloc(1, sizeof(*wm));

    if (!wm) {
        return NULL;
    }
    wm->cap = 64;
    wm->ring = calloc(wm->cap, sizeof(*wm->ring));
    if (!wm->ring) {
        free(wm);
        return NULL;
    }
    return wm;
}

void dh_wm_destroy(dh_wm_t *wm)
{
    if (!wm) {
        return;
    }
    free(wm->ring);
    free(wm);
}

static dh_err_t grow(dh_wm_t *wm)
{
    size_t ncap = wm->cap * 2;
    struct slot *nr = calloc(ncap, sizeof(*nr));

    if (!nr) {
        return DH_ERR_NOMEM;
    }
    for (uint64_t s = wm->head; s < wm->tail; s++) {
        nr[s & (ncap - 1)] = wm->ring[s & (wm->cap - 1)];
    }
    free(wm->ring);
    wm->ring = nr;
    wm->cap = ncap;
    return DH_OK;
}

dh_err_t dh_wm_push(dh_wm_t *wm, int64_t offset, uint64_t *seq)
{
    if (wm->tail - wm->head == wm->cap) {
        dh_err_t err = grow(wm);

        if (err) {
            return err;
        }
    }
    struct slot *s = &wm->ring[wm->tail & (wm->cap - 1)];
    s->offset = offset;
    s->done = 0;
    *seq = wm->tail++;
    return DH_OK;
}

void dh_wm_done(dh_wm_t *wm, uint64_t seq)
{
    if (seq < wm->head || seq >= wm->tail) {
        return; /* already popped or never pushed: nothing to do */
    }
    wm->ring[seq & (wm->cap - 1)].done = 1;
}

int64_t dh_wm_advance(dh_wm_t *wm)
{
    int64_t commit = -1;

    while (wm->head < wm->tail) {
        struct slot *s = &wm->ring[wm->head & (wm->cap - 1)];

        if (!s->done) {
            break;
        }
        commit = s->offset + 1;
        wm->head++;
    }
    return commit;
}

size_t dh_wm_pending(const dh_wm_t *wm)
{
    return (size_t)(wm->tail - wm->head);
}
