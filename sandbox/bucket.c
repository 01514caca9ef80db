/*
 * bucket: leaky-bucket arithmetic (see bucket.h).
 */
#include "bucket.h"

void dh_sb_bucket_init(dh_sb_bucket_t *b, double maximum, double rate, double now)
{
    b->maximum = maximum;
    b->restore_rate = rate;
    b->available = maximum;
    b->last = now;
}

void dh_sb_bucket_refill(dh_sb_bucket_t *b, double now)
{
    if (now > b->last) {
        b->available += (now - b->last) * b->restore_rate;
        if (b->available > b->maximum) {
            b->available = b->maximum;
        }
    }
    b->last = now;
}

bool dh_sb_bucket_charge(dh_sb_bucket_t *b, double cost, double now)
{
    dh_sb_bucket_refill(b, now);
    if (cost > b->available) {
        return false;
    }
    b->available -= cost;
    return true;
}

void dh_sb_bucket_refund(dh_sb_bucket_t *b, double points)
{
    if (points <= 0) {
        return;
    }
    b->available += points;
    if (b->available > b->maximum) {
        b->available = b->maximum;
    }
}

double dh_sb_bucket_wait_for(const dh_sb_bucket_t *b, double cost, double now)
{
    double avail = b->available + (now - b->last) * b->restore_rate;

    if (avail > b->maximum) {
        avail = b->maximum;
    }
    if (avail >= cost || b->restore_rate <= 0) {
        return 0;
    }
    return (cost - avail) / b->restore_rate;
}

void dh_sb_bucket_set(dh_sb_bucket_t *b, double available, double now)
{
    dh_sb_bucket_refill(b, now);
    b->available = available < 0 ? 0 : available > b->maximum ? b->maximum : available;
}
