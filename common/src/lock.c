/* Owned locks in Redis (lock.h). */
#include "dockhand/lock.h"

#include <stdio.h>

/* Deletes the key only while the caller still owns it. */
static const char unlock_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

int dh_lock_take(dh_redis_t *r, const char *key, const char *owner, long long ttl_ms)
{
    char ms[32];
    const char *argv[] = {"SET", key, owner, "NX", "PX", ms};
    redisReply *rep = NULL;
    int ok;

    snprintf(ms, sizeof(ms), "%lld", ttl_ms);
    if (dh_redis_command(r, 6, argv, NULL, &rep) != DH_OK) {
        return 0;
    }
    ok = rep->type == REDIS_REPLY_STATUS; /* OK; a nil reply means someone holds it */
    freeReplyObject(rep);
    return ok;
}

void dh_lock_drop(dh_redis_t *r, const char *key, const char *owner)
{
    const char *argv[] = {key, owner};
    redisReply *rep = NULL;

    if (dh_redis_eval(r, unlock_lua, 1, 2, argv, NULL, &rep) == DH_OK) {
        freeReplyObject(rep);
    }
}
