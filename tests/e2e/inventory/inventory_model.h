/*
 * The inventory model test's world (tests/e2e/test_inventory_model.c): the model's types,
 * the stack it drives (dh-sandbox, dh-inventory, dh-dispatch, dh-orders on the shared Kafka
 * and Redis), the WMS events it writes to its outboxes and the sandbox calls it makes.
 */
#ifndef INVENTORY_MODEL_H
#define INVENTORY_MODEL_H

#include <stddef.h>

#include <jansson.h>
#include <sys/types.h>

#include "harness.h"

#define NSKU   3
#define NFAC   2
#define MAXORD 256
#define MAXOUT 512
#define TRACE  400

#define HIST 256

typedef struct fstock {
    int g, a, p, s, off; /* good_online (incl. allocated), allocated, picked, safety, offline */
    long long seq;
    long long flushed; /* the newest sequence produced to the topic */
    /* The truly sellable units of every WMS state since the newest one dh-inventory is known to
     * have consumed (sequence, units): any of them may be what Shopify shows now. */
    int hn;
    long long hseq[HIST];
    int htr[HIST];
} fstock_t;

enum { O_PLACED, O_ALLOC, O_PICKED, O_DISPATCHED, O_CANCELLED, O_REFUNDED };

typedef struct order {
    long long id, li;
    int label; /* "#n" in the trace and the actions file (the walk's n-th order) */
    int fac, sku, q, state;
    int sent;            /* its dispatch event was produced */
    long long stock_seq; /* the stock change by which its units left (pick or dispatch) */
} order_t;

typedef struct msg {
    char key[200];
    char *val;
    int f, k; /* a stock event's facility and SKU (f -1: a dispatch) */
    long long seq;
} msg_t;

typedef struct outbox {
    msg_t m[MAXOUT];
    int head, tail;
} outbox_t;

enum { W_INV, W_DSP, W_ORD }; /* W_ORD: dh-orders, for refunds (not paused nor killed) */

/* The walk's actions, in the order of the seeded walk's weights (never reorder: a seed would
 * mean another walk). Their lines in an actions file (DH_MODEL_REPLAY):
 *   initial F<f> MK-<k> G <q> S <s>      (before every other action)
 *   putaway F<f> MK-<k> +<q>
 *   move F<f> MK-<k> <online->offline|offline->online|online->online> <q>
 *   order #<o> F<f> MK-<k> x<q>
 *   allocate|pick|dispatch|cancel|refund #<o>
 *   flush <stock|dispatch> <q>
 *   kill|pause|resume <dh-inventory|dh-dispatch>
 *   sync
 *   quiesce */
enum {
    A_PUTAWAY,
    A_MOVE,
    A_ORDER,
    A_ALLOCATE,
    A_PICK,
    A_DISPATCH,
    A_CANCEL,
    A_FLUSH,
    A_SYNC,
    A_KILL,
    A_PAUSE,
    A_QUIESCE,
    A_REFUND,
    A_RESUME,  /* a pause drawn while one worker is paused */
    A_INITIAL, /* not drawn: the initial stock */
    A_COUNT
};

typedef struct act {
    int kind;
    int f, k, q, s; /* facility, SKU, units; s: safety stock (initial) */
    int dir;        /* move: 0 online->offline, 1 offline->online, 2 online->online */
    int o;          /* the order's label */
    int b;          /* flush: 0 stock (W_INV), 1 dispatch (W_DSP); kill/pause/resume: worker */
} act_t;

typedef struct model {
    unsigned long long rng;
    int picked_mode; /* 1: stock.picked + stock_sequence; 0: legacy WMS */
    th_sandbox_t sb;
    char store[128], stores_file[256];
    char topic[3][128], group[3][128], log[3][256];
    const char *bin[3];
    pid_t pid[3];
    int refunds; /* DH_MODEL_REFUNDS: dh-orders runs and the walk refunds */
    int paused;  /* -1 or the paused worker */
    th_producer_t *p;
    fstock_t st[NFAC][NSKU];
    order_t o[MAXORD];
    int norders;
    outbox_t out[2]; /* W_INV: stock events; W_DSP: dispatch events */
    long long serial;
    unsigned long long idp; /* event id prefix: unique per run (idempotency records outlive it) */
    int syncs, refunded, kills, pauses;
    int step;     /* the seeded walk's last step */
    long long t0; /* ms: the trace's clock */
    char trace[TRACE][160];
    int ntrace;
    act_t *acts; /* every action performed (or failed), in order: the actions file */
    int nacts, cacts;
} model_t;

static const char *const loc_name[NFAC] = {"WH1", "WH2"};
static const int loc_id[NFAC] = {11, 12};

typedef struct fwait {
    model_t *m;
    long long id;
} fwait_t;

/* The model's quantities (tests/e2e/test_inventory_model.c's header says what they mean). */
/** Units of (f, k) ordered on Shopify that the WMS has not allocated. */
int unallocated(model_t *m, int f, int k);
/** Units of (f, k) Shopify still counts as committed once every dispatch was fulfilled. */
int unfulfilled(model_t *m, int f, int k);
/** The truly sellable units of (f, k) now. */
int truth(model_t *m, int f, int k);
void hist_push(model_t *m, int f, int k);
void hist_shift(model_t *m, int f, int k, int delta);
void hist_ack(model_t *m, int upto_current);
/** The most Shopify may show for (f, k) without overselling. */
int bound(model_t *m, int f, int k);
int expected_on_hand(model_t *m, int f, int k);

/** The order labelled #\p label, or NULL (a replayed trace may have lost it). */
order_t *order_of(model_t *m, int label);
/** A random order (the seed's next draw) in \p state (or \p state2 when >= 0), or NULL. */
order_t *order_in(model_t *m, int state, int state2);
/** Order #\p label if it is in \p state (or \p state2 when >= 0), else NULL. */
order_t *order_at(model_t *m, int label, int state, int state2);
/** The units a move of (f, k) in direction \p dir may take. */
int move_room(model_t *m, int f, int k, int dir);

unsigned long long rnd(model_t *m);
/** A number in 0..n-1 from the seed's sequence (0 when n <= 0). */
int pick(model_t *m, int n);
/** Append a line to the trace, stamped with the run's clock. */
void note(model_t *m, const char *f, ...) __attribute__((format(printf, 2, 3)));
void start_worker(model_t *m, int w);
void start_stack(model_t *m, unsigned long long seed);
void stop_stack(model_t *m);
void outbox_add(model_t *m, int b, const char *key, char *val, int f, int k);
/** The snapshot of (f, k) after a stock change: a putaway (from NULL) or a move. */
void stock_event(model_t *m, int f, int k, const char *from, const char *to, int q);
void dispatch_event(model_t *m, order_t *o);
/** The sandbox's levels of SKU MK-\p k (caller decrefs). */
json_t *level(model_t *m, int k);
long long qty(json_t *lv, int f, const char *name);
long long order_post(model_t *m, long long id, const char *action, const char *body, json_t **out);
int has_fulfillment(void *ud);
/** The WMS's sellable rows as the model has them now (JSON, caller frees). */
char *wms_rows(model_t *m);
/** The sandbox's journal of Shopify calls into \p path, for the post-mortem. */
void save_journal(model_t *m, const char *path);
void produce_refund(model_t *m, long long order, const char *body);

/** The line of \p a in an actions file (no newline). */
void act_format(const act_t *a, char *buf, size_t size);
/** Parse one line of an actions file: 1 an action, 0 blank or comment, -1 malformed. */
int act_parse(const char *line, act_t *a);
/** Read an actions file: its actions (caller frees) and their line numbers; -1 (why). */
int acts_read(const char *path, act_t **acts, int **lines, int *n, char *why, size_t size);
/** Append \p a to the run's actions. */
void acts_add(model_t *m, const act_t *a);
/** Write the run's actions to \p path, after the comment lines \p header. */
int acts_write(model_t *m, const char *path, const char *header);
/** The check \p why violated: "oversold", "not-equal" or "error". */
const char *failed_check(const char *why);
/** Write the failed run's actions file and print how to replay and shrink it. */
void write_actions(model_t *m, const char *origin, const char *why);

#endif
