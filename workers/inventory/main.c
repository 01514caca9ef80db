/* dh-inventory: WMS putaways and zone moves become Shopify stock (docs/inventory.md). */
#include "inventory.h"

int main(int argc, char **argv)
{
    return dh_worker_main(argc, argv, &inv_handler);
}
