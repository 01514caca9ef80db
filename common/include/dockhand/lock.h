/*
 * Owned locks in Redis, for scheduled work that one replica at a time should do (a
 * reconciliation pass, an import): SET NX PX with the owner's name as the value, and a
 * release that deletes the key only while that owner still holds it, so a replica whose
 * lock expired mid-pass can never release the lock a successor took.
 */
#ifndef DH_LOCK_H
#define DH_LOCK_H

#include "dockhand/redis.h"

/**
 * @brief Take \p key for \p owner for \p ttl_ms milliseconds, if nobody holds it.
 * @returns 1 when taken, 0 when another owner holds it or Redis failed (the caller simply
 *          tries again at its next tick).
 */
int dh_lock_take(dh_redis_t *r, const char *key, const char *owner, long long ttl_ms);

/** @brief Release \p key if \p owner still holds it (one compare-and-delete script); a
 *  failure only leaves the lock to expire. */
void dh_lock_drop(dh_redis_t *r, const char *key, const char *owner);

#endif
