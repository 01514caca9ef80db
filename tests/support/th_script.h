/*
 * A scripted handler for the runtime's component tests. An event's payload is
 * "<script> <id>"; the id (unique per run) is its effect id, and every performance of it
 * is counted here, at the far side of the handler.
 *
 *   done      DONE                      retryN    RETRY ("http") N times, then DONE
 *   retry     RETRY ("http") always     authN     RETRY ("auth") N times, then DONE
 *   waitN     WAIT N times, then DONE   dead      DEAD_LETTER ("schema")
 *   waitretryN  WAIT N times, then RETRY ("http") once, then DONE
 *   fatal     FATAL                     block     DONE once th_script_unblock() was called
 *   sleepN    DONE after N ms (a slow far side)
 *   term      DONE after raising SIGTERM in the process (a worker's clean stop)
 *   killrec   DONE, after killing the lane's Redis connection (the done record fails)
 *   produce   DONE once dh_lane_produce() wrote key and value <id>, header x-from:
 *             scripted, to TH_SCRIPT_OUT (RETRY "produce" when it failed)
 */
#ifndef TH_SCRIPT_H
#define TH_SCRIPT_H

#include <stddef.h>

#include "th_rt.h"

/** The handler, named "scripted", consuming \p TH_SCRIPT_TOPIC by default. */
#define TH_SCRIPT_TOPIC "scripted.events"
extern const dh_handler_t th_script_handler;
#define TH_SCRIPT_OUT TH_SCRIPT_TOPIC ".out"

/** Performances of \p id so far (every handle() call, whatever it returned). */
int th_script_performances(const char *id);
/** Await \p n performances of \p id; returns 1 when they happened. */
int th_script_await(const char *id, int n, int timeout_ms);
/** Let every "block" event (running or to come) finish. */
void th_script_unblock(void);

/** An id unique to \p run_id and \p name into \p id, "<script> <id>" into \p payload;
 *  returns \p payload. */
const char *th_script_event(const char *run_id, const char *script, const char *name, char *id,
                            size_t idsz, char *payload, size_t psz);

#endif
