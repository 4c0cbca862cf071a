/* `cltool bench`: what it measures per device, and its three outputs. */
#ifndef CLTOOL_BENCH_H
#define CLTOOL_BENCH_H

#include "bandwidth.h"

#define BENCH_SCHEMA_VERSION 1
#define ERROR_TEXT           320

typedef struct bench_case {
    clxent_loss_kind kind;
    clxent_shape shape;
    unsigned input; /* INPUT_LOGITS or INPUT_PROBABILITIES */
    unsigned mode;  /* MODE_LOSS or MODE_GRADIENT (loss and gradient) */
    timing time;    /* seconds per clxent_enqueue */
    double bytes;   /* compulsory bytes per run */
    double gbps;    /* bytes / median time, 1e9 bytes per second */
    double percent; /* of read (loss) or copy (gradient) bandwidth */
    double rows_per_second;
    char error[ERROR_TEXT]; /* empty when the case ran */
} bench_case;

typedef struct device_bench {
    device_info info;
    bandwidth bandwidth;
    double first_result_seconds; /* clxent_open to the first result */
    double launch_latency;       /* seconds, median, tiny batch */
    unsigned latency_runs;
    bench_case *cases;
    size_t case_count;
    char error[ERROR_TEXT]; /* set when the device could not be measured */
} device_bench;

void print_bench_table(const device_bench *devices, size_t count);
void print_bench_csv(const device_bench *devices, size_t count);
void print_bench_json(const device_bench *devices, size_t count);
const char *mode_name(unsigned mode);
const char *input_name(unsigned input);
size_t loss_rows(const clxent_shape *shape);

#endif /* CLTOOL_BENCH_H */
