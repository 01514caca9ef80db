/*
 * Trace records: what the runtime recorded about each effect it applied, so an on-call
 * engineer can answer "what did this event do?" with one command (dh-ops trace) instead
 * of a log search. Beside the idempotency record "<ns>:idem:<effect>" (which stays "done",
 * unchanged), the runtime writes "<ns>:idem-info:<effect>": a JSON object with the outcome,
 * time, worker instance, origin (topic, partition, offset, key), duration, attempts, the
 * ids the event carried (payload event_id and correlation_id, gateway headers) and its
 * far-side calls ("calls": far, call, status, the Idempotency-Key sent, and the ids in the
 * answer: the WMS's "id"/"*_id" fields, the Shopify GIDs in the data). An index set
 * "dh:trace:<token>" per token (the whole key, its last part — SKU, order or request id —,
 * the effect id, the event id, the correlation id, the webhook id) names the effects
 * ("<ns> <effect>") to look up. Both live DH_TRACE_RETENTION_S (0: not written).
 */
#ifndef DH_TRACE_H
#define DH_TRACE_H

#define DH_TRACE_INFO_FMT  "%s:idem-info:%s" /* ns, effect id */
#define DH_TRACE_INDEX_FMT "dh:trace:%s"     /* token */

#endif
