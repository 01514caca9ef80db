/* dh-dispatch: WMS dispatches and delivery statuses -> Shopify (docs/dispatch.md). */
#include "dispatch.h"

int main(int argc, char **argv)
{
    return dh_worker_main(argc, argv, &dispatch_handler);
}
