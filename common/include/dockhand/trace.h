/*
 * Trace records: what the runtime recorded about the effects it applied, so an on-call
 * engineer can answer "what did this event do?" with one command (dh-ops trace) instead
 * of a log search.
 *
 * One record per batch of a lane (the batch of dockhand/idem.h, whose id the effects'
 * idempotency records point at): "<ns>:trace:<batch>" is a JSON object
 *   {"worker", "instance", "at", "effects": [ {outcome, topic, partition, offset, effect,
 *    key, duration_ms, attempts, the gateway's ids (webhook-id, event-id, shop-domain, ...),
 *    event_id, correlation_id, store, calls}, ... ]}
 * with each effect's far-side calls ("calls": far, call, status, the Idempotency-Key sent,
 * and the ids in the answer: the WMS's "id"/"*_id" fields, the Shopify GIDs in the data).
 *
 * An index set "dh:trace:<token>" per distinct token of the batch (an effect's whole key,
 * its last part — SKU, order or request id —, event id, correlation id, webhook id, event
 * id header) names the batches ("<ns> <batch>") to read. The effect id is no token: its
 * idempotency record "<ns>:idem:<effect>" names its batch (dh_idem_lookup()). Sets written
 * before batch records name effects ("<ns> <effect>", record "<ns>:idem-info:<effect>");
 * dh-ops still reads them until they expire.
 *
 * Cost: one SET per batch, one SADD per distinct token of the batch, and an EXPIRE of a
 * set only when this lane thread has not set its TTL within the last ttl/8 seconds (a
 * per-thread cache of 4096 slots). So a set may expire up to ttl/8 before its newest
 * member's record does (that batch is then found by its other tokens, or by effect id,
 * for the rest of its life); the records carry their own TTL. A set deleted by hand while
 * a thread remembers its TTL is re-created without one until that thread's next EXPIRE.
 * Records and sets live DH_TRACE_RETENTION_S (0: nothing is written).
 */
#ifndef DH_TRACE_H
#define DH_TRACE_H

#define DH_TRACE_BATCH_FMT "%s:trace:%s"     /* ns, batch id (DH_IDEM_BATCH_LEN hex) */
#define DH_TRACE_INFO_FMT  "%s:idem-info:%s" /* ns, effect id: before batch records */
#define DH_TRACE_INDEX_FMT "dh:trace:%s"     /* token */
#define DH_TRACE_TOKEN_MAX 280               /* longer tokens are cut to this in the key */

#endif
