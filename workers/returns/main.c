/* dh-returns: Return Prime requests -> WMS returns (docs/returns.md). */
#include "returns.h"

int main(int argc, char **argv)
{
    return dh_worker_main(argc, argv, &returns_handler);
}
