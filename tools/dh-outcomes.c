/*
 * dh-outcomes: prints the outcome table as markdown — the common mapping of every Shopify
 * and WMS answer, the worker x answer matrix, and each worker's rules for business answers
 * — from the same data the workers run on (common/src/outcome.c, workers/<name>/outcomes.c).
 * docs/ARCHITECTURE.md "Outcome mapping" is this output.
 *
 *     dh-outcomes            all of it
 *     dh-outcomes orders     the common table and one worker's rules
 */
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "dispatch.h"
#include "dockhand/outcome.h"
#include "inventory.h"
#include "orders.h"
#include "returns.h"

int main(int argc, char **argv)
{
    const dh_outcome_rules_t *const all[] = {&orders_outcomes, &returns_outcomes,
                                             &dispatch_outcomes, &inv_outcomes, &catalog_outcomes};
    const size_t n = sizeof(all) / sizeof(all[0]);

    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: dh-outcomes [orders|returns|dispatch|inventory|catalog]\n");
        return 2;
    }
    for (size_t i = 0; argc == 2 && i < n; i++) {
        if (strcmp(argv[1], all[i]->worker) == 0) {
            dh_outcome_print(stdout, &all[i], 1);
            return 0;
        }
    }
    if (argc == 2) {
        fprintf(stderr, "dh-outcomes: no worker '%s'\n", argv[1]);
        return 2;
    }
    dh_outcome_print(stdout, all, n);
    return 0;
}
