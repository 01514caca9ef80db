/*
 * dh-inventory's checks of a message before any effect (check.c): shared by the worker's
 * decode() and by dh-ops validate, so both reject exactly the same events.
 */
#ifndef DH_INV_CHECK_H
#define DH_INV_CHECK_H

#include <stddef.h>

#include "dockhand/stores.h"
#include "dockhand/worker.h"
#include "event.h"

/** The parsed event and where it goes (store and location borrowed from the stores). */
typedef struct inv_item {
    inv_event_t ev;
    const dh_store_t *store;
    size_t store_index;
    const char *location;
} inv_item_t;

/**
 * @brief Parse \p msg (its topic, key and payload) into \p it and check it against the
 *        contract, its key and \p stores.
 * @returns NULL when the worker would apply it; else the dead-letter class ("decode",
 *          "schema", "unknown-tenant", "unknown-facility") with the reason in \p err.
 */
const char *inv_event_check(const dh_stores_t *stores, const dh_msg_t *msg, inv_item_t *it,
                            char *err, size_t size);

#endif
