/* dh-catalog: Shopify products -> WMS SKUs (docs/catalogue.md). "dh-catalog report
 * <store>" prints the store's duplicate-SKU report, "dh-catalog import <store>" asks for
 * a full import, instead of running the worker. */
#include <string.h>

#include "apply.h"
#include "catalog.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "report") == 0) {
        return catalog_report_main(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "import") == 0) {
        return catalog_import_main(argc, argv);
    }
    return dh_worker_main(argc, argv, &catalog_handler);
}
