/* Create a topic (and its .dlq) with N partitions on the test stack: mktopic TOPIC [N]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdlib.h>

#include "harness.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        return 2;
    }
    th_create_topic(argv[1], argc > 2 ? atoi(argv[2]) : 6);
    return 0;
}
