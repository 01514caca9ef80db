/*
 * Per-partition contiguous-offset watermark. Events are pushed in offset order as they
 * are dispatched and marked done in any order; the commit point advances only over a
 * contiguous run of done events, so an offset is never stored past unfinished work.
 * Pure data structure, no locking (the runtime holds its lock).
 */
#ifndef DH_WM_H
#define DH_WM_H

#include <stddef.h>

#include <stdint.h>

#include "dockhand/err.h"

typedef struct dh_wm_s dh_wm_t;

dh_wm_t *dh_wm_new(void);
void dh_wm_destroy(dh_wm_t *wm);

/** @brief Append \p offset (must exceed the previous one). @param seq  Out: handle for
 *  dh_wm_done(). */
DH_NODISCARD dh_err_t dh_wm_push(dh_wm_t *wm, int64_t offset, uint64_t *seq);

/** @brief Mark the event \p seq done. */
void dh_wm_done(dh_wm_t *wm, uint64_t seq);

/**
 * @brief Pop the contiguous done prefix.
 * @returns The offset to commit (last done offset + 1), or -1 if it did not move.
 */
int64_t dh_wm_advance(dh_wm_t *wm);

/** @brief Events pushed and not yet popped by dh_wm_advance(). */
size_t dh_wm_pending(const dh_wm_t *wm);

#endif
