/*
 * journal: a bounded, thread-safe ring of request records (JSON objects), read back
 * as JSON lines with filters. Not persistent.
 */
#ifndef DH_SB_JOURNAL_H
#define DH_SB_JOURNAL_H

#include <jansson.h>
#include <stdint.h>

typedef struct dh_sb_journal_s dh_sb_journal_t;

typedef struct dh_sb_journal_filter {
    const char *group;    /**< exact "group", or NULL */
    const char *op;       /**< exact "op", or NULL */
    const char *shop;     /**< exact "shop", or NULL */
    const char *contains; /**< substring of the request body, or NULL */
    uint64_t since_seq;   /**< only entries with seq > since_seq */
} dh_sb_journal_filter_t;

/** @brief A journal keeping the newest \p capacity entries; NULL on allocation failure. */
dh_sb_journal_t *dh_sb_journal_new(size_t capacity);

/** @brief Frees the journal; NULL does nothing. */
void dh_sb_journal_destroy(dh_sb_journal_t *j);

/** @brief Appends \p entry (reference stolen), adding "seq"; returns the seq. */
uint64_t dh_sb_journal_add(dh_sb_journal_t *j, json_t *entry);

/** @brief Matching entries as JSON lines (caller free()s); NULL on allocation failure. */
char *dh_sb_journal_dump(dh_sb_journal_t *j, const dh_sb_journal_filter_t *filter);

/** @brief Drops every entry (seq keeps counting). */
void dh_sb_journal_clear(dh_sb_journal_t *j);

#endif
