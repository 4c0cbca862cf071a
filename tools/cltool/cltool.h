/*
 * What the commands of cltool share: exit codes, the parsed command line,
 * device selection and listing, timing and output helpers. cltool uses
 * the public <clxent.h> only, plus plain OpenCL for device queries and
 * profiling events.
 */
#ifndef CLTOOL_H
#define CLTOOL_H

#include <clxent.h>

#include <stdio.h>

/* Exit codes, documented in `cltool --help`. 77 is what `meson test`
 * (and automake) read as a skipped test. */
enum {
    EXIT_PASSED = 0,
    EXIT_FAILED = 1,     /* a check failed, or an OpenCL or clxent error */
    EXIT_USAGE = 2,      /* unknown option, bad value, malformed selector */
    EXIT_NO_MATCH = 3,   /* devices exist, but none matches --device */
    EXIT_NO_DEVICE = 77, /* no OpenCL platform or device at all */
};

typedef enum command {
    COMMAND_NONE,
    COMMAND_DEVICES,
    COMMAND_BENCH,
    COMMAND_CHECK
} command;

/* Bits of options.modes. */
#define MODE_LOSS     1u
#define MODE_GRADIENT 2u

/* Bits of options.inputs. */
#define INPUT_LOGITS        1u
#define INPUT_PROBABILITIES 2u

#define MAX_SHAPES 16

typedef struct options {
    command command;
    int help;
    int version;
    const char *device; /* selector; NULL: every device */
    unsigned losses;    /* bit per clxent_loss_kind; 0: the defaults */
    size_t shape_count; /* 0: the default shapes of each loss */
    clxent_shape shapes[MAX_SHAPES];
    unsigned inputs;    /* INPUT_ bits; 0: logits */
    unsigned modes;     /* MODE_ bits; 0: both */
    unsigned repeat;    /* timed runs per case; 0: fill the budget */
    double time_budget; /* seconds of timed runs per case */
    int json;
    int csv;
    unsigned long long seed;
    int seed_given;
} options;

/* options.c */
int parse_options(int argc, char **argv, options *opts);
void print_help(FILE *out, command cmd);
void print_usage(FILE *out, command cmd);
const char *loss_name(clxent_loss_kind kind);
int is_sigmoid_kind(clxent_loss_kind kind);
int is_sparse_kind(clxent_loss_kind kind);

/* devices.c */
typedef struct device_info {
    char index[24]; /* "P:D" */
    char name[256];
    char vendor[256];
    char platform[256];
    char driver[128];
    const char *type;
    cl_uint compute_units;
    cl_ulong global_memory;
    cl_ulong max_allocation;
    cl_ulong cache_size;
    int has_double;
    int has_half;
} device_info;

/* The devices `selector` (NULL: all) picks, in a malloc'd array; on
 * failure a message (and cmd's usage line for a malformed selector) on
 * stderr, and the exit code to use. */
int select_devices(const char *selector, command cmd,
                   clxent_device_entry **entries, size_t *count);
void read_device_info(const clxent_device_entry *entry, device_info *info);
int run_devices(const options *opts);

/* bench.c, check.c */
int run_bench(const options *opts);
int run_check(const options *opts);

/* util.c */
double now_seconds(void);
double median_of(double *values, size_t count); /* sorts values */
double min_of(const double *values, size_t count);
void json_string(FILE *out, const char *text);
void json_number(FILE *out, double value); /* null when not finite */
int progress_wanted(void);
void fill_random_floats(float *values, size_t count, unsigned long long seed,
                        float low, float high);

#endif /* CLTOOL_H */
