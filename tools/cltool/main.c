/*
 * cltool: lists OpenCL devices, benchmarks the losses of clxent against
 * the memory bandwidth of each device, and checks them against a float64
 * reference. `cltool --help` tells the commands and exit codes.
 */
#include "cltool.h"

#include "train.h"

#include <string.h>

int main(int argc, char **argv)
{
    options opts;
    /* `train` parses its own options (train.c). */
    if (argc > 1 && strcmp(argv[1], "train") == 0)
        return run_train(argc - 1, argv + 1);
    const int status = parse_options(argc, argv, &opts);
    if (status != 0)
        return status;

    if (opts.help) {
        print_help(stdout, opts.command);
        return EXIT_PASSED;
    }
    if (opts.version) {
        printf("cltool %s\n", clxent_version_string());
        return EXIT_PASSED;
    }

    switch (opts.command) {
    case COMMAND_DEVICES:
        return run_devices(&opts);
    case COMMAND_BENCH:
        return run_bench(&opts);
    case COMMAND_CHECK:
        return run_check(&opts);
    case COMMAND_NONE:
        break;
    }
    return EXIT_USAGE;
}
