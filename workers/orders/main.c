/* dh-orders: Shopify orders -> WMS sales orders (docs/orders.md). */
#include "orders_internal.h"

int main(int argc, char **argv)
{
    return dh_worker_main(argc, argv, &orders_handler);
}
