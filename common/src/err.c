/*
 * dh_err_str(): the short constant names of dh_err_t, for logs and metrics labels.
 * No state, no allocation.
 */
#include "dockhand/err.h"

const char *dh_err_str(dh_err_t err)
{
    switch (err) {
    case DH_OK:
        return "ok";
    case DH_ERR_IO:
        return "io";
    case DH_ERR_TIMEOUT:
        return "timeout";
    case DH_ERR_PROTO:
        return "proto";
    case DH_ERR_NOMEM:
        return "nomem";
    case DH_ERR_CONFIG:
        return "config";
    case DH_ERR_INVALID:
        return "invalid";
    case DH_ERR_STATE:
        return "state";
    case DH_ERR_LIMIT:
        return "limit";
    case DH_ERR_AUTH:
        return "auth";
    case DH_ERR_RATE:
        return "rate";
    }
    /* Not a dh_err_t value (e.g. a cast int): still never NULL. */
    return "unknown";
}
