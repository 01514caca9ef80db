/* The shareable quantity and the on_hand target (see shareable.h). */
#include "shareable.h"

static int64_t clamp_in(int64_t v)
{
    if (v < 0) {
        return 0;
    }
    return v > INV_QTY_MAX * 4 ? INV_QTY_MAX * 4 : v; /* keeps a - b - c in range */
}

static int64_t clamp_out(int64_t v)
{
    if (v < 0) {
        return 0;
    }
    return v > INV_QTY_MAX ? INV_QTY_MAX : v;
}

int64_t inv_shareable(const inv_stock_t *s)
{
    return clamp_out(clamp_in(s->good_online) - clamp_in(s->allocated) - clamp_in(s->safety_stock));
}

int64_t inv_target_on_hand(const inv_stock_t *s)
{
    return clamp_out(clamp_in(s->good_online) + clamp_in(s->picked) - clamp_in(s->safety_stock));
}
