/* The memory bandwidth probe of `cltool bench`. */
#ifndef CLTOOL_BANDWIDTH_H
#define CLTOOL_BANDWIDTH_H

#include "timing.h"

typedef struct bandwidth {
    size_t buffer_bytes;
    timing copy;      /* per run: buffer_bytes read and buffer_bytes written */
    timing read;      /* per run: buffer_bytes read */
    double copy_gbps; /* 1e9 bytes per second, from the median run */
    double read_gbps;
} bandwidth;

/*
 * Measures the copy and read bandwidth of the context's device with
 * kernels of cltool's own, timed by profiling events (the context's
 * queue must have profiling enabled). Returns 0, or an OpenCL error code
 * after a message on stderr.
 */
int measure_bandwidth(clxent_context *ctx, const device_info *info,
                      double budget, unsigned repeat, bandwidth *result);

#endif /* CLTOOL_BANDWIDTH_H */
