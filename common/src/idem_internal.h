/*
 * Private pieces of the idempotency module, exposed for unit tests.
 */
#ifndef DH_IDEM_INTERNAL_H
#define DH_IDEM_INTERNAL_H

#include <stddef.h>

/**
 * @brief RFC 4122 name-based UUID, version 5 (SHA-1): SHA1(ns_uuid || name), version and
 *        variant bits set, written as 36 lower-case chars + NUL. \p name is \p name_len
 *        bytes (binary-safe). dh_idem_far_key() is this with the dockhand namespace.
 */
void dh_idem_uuid5(const unsigned char ns_uuid[16], const char *name, size_t name_len,
                   char out[37]);

#endif
