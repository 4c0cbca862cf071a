/*
 * Copy and read bandwidth of device memory, the ceiling each loss is
 * compared with: a buffer several times larger than the device's cache,
 * random floats, warm-ups, and kernel times from profiling events.
 */
#include "bandwidth.h"

#include <stdlib.h>

/* From bandwidth.cl, embedded at build time. */
extern const char clxent_source_bandwidth[];

#define MIB            ((size_t)1 << 20)
#define CACHE_MULTIPLE 4
#define MIN_BUFFER     (64 * MIB)

typedef struct probe {
    cl_command_queue queue;
    cl_kernel kernel;
    size_t global;
} probe;

static int report(cl_int code, const char *what)
{
    if (code != CL_SUCCESS)
        fprintf(stderr, "cltool: bandwidth probe: %s failed (OpenCL %d)\n",
                what, code);
    return code;
}

/* Well above the last-level cache so that memory, not cache, is timed;
 * two buffers must fit in the device's memory. */
static size_t buffer_size(const device_info *info)
{
    size_t bytes = (size_t)info->cache_size * CACHE_MULTIPLE;
    if (bytes < MIN_BUFFER)
        bytes = MIN_BUFFER;
    if (bytes > info->max_allocation)
        bytes = (size_t)info->max_allocation;
    if (bytes > info->global_memory / 4)
        bytes = (size_t)(info->global_memory / 4);
    return bytes / MIB * MIB;
}

static cl_program build_probe(clxent_context *ctx)
{
    cl_int code;
    const char *source = clxent_source_bandwidth;
    cl_device_id device = clxent_device(ctx);
    cl_program program = clCreateProgramWithSource(clxent_cl_context(ctx), 1,
                                                   &source, NULL, &code);
    if (report(code, "clCreateProgramWithSource"))
        return NULL;
    code = clBuildProgram(program, 1, &device, "", NULL, NULL);
    if (report(code, "building bandwidth.cl")) {
        clReleaseProgram(program);
        return NULL;
    }
    return program;
}

static int run_probe(void *state, double *seconds)
{
    const probe *p = state;
    cl_event done;
    cl_int code = clEnqueueNDRangeKernel(p->queue, p->kernel, 1, NULL,
                                         &p->global, NULL, 0, NULL, &done);
    if (report(code, "clEnqueueNDRangeKernel"))
        return code;
    code = clWaitForEvents(1, &done);
    if (code == CL_SUCCESS)
        code = event_span(done, CL_PROFILING_COMMAND_START, done, seconds);
    clReleaseEvent(done);
    return report(code, "timing a probe kernel");
}

static cl_mem random_buffer(clxent_context *ctx, size_t bytes)
{
    cl_int code;
    float *host = malloc(bytes);
    cl_mem buffer = NULL;
    if (!host) {
        fprintf(stderr, "cltool: bandwidth probe: out of host memory\n");
        return NULL;
    }
    fill_random_floats(host, bytes / sizeof(float), 1, -1.0f, 1.0f);
    buffer = clCreateBuffer(clxent_cl_context(ctx),
                            CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes,
                            host, &code);
    free(host);
    if (report(code, "clCreateBuffer"))
        return NULL;
    return buffer;
}

/* As bandwidth.cl reads: the slice kernels take READS_PER_ITEM float4
 * elements a work-item (copy one), the block kernels BLOCK. */
#define READS_PER_ITEM 16
#define BLOCK          64

/* One argument of a probe kernel. */
typedef struct probe_arg {
    size_t size;
    const void *value;
} probe_arg;

/* The faster of two timings, by median. */
static void keep_faster(timing *kept, const timing *other)
{
    if (other->median < kept->median)
        *kept = *other;
}

/* Times kernel `name` over `items` work-items with arguments `args`. */
static int time_kernel(clxent_context *ctx, cl_program program,
                       const char *name, size_t items, const probe_arg *args,
                       cl_uint arg_count, double budget, unsigned repeat,
                       timing *t)
{
    cl_int code;
    probe p = { clxent_queue(ctx), NULL, items };
    p.kernel = clCreateKernel(program, name, &code);
    if (report(code, "clCreateKernel"))
        return code;
    for (cl_uint i = 0; i < arg_count && code == CL_SUCCESS; i++)
        code = clSetKernelArg(p.kernel, i, args[i].size, args[i].value);
    if (!report(code, "clSetKernelArg"))
        code = time_runs(run_probe, &p, budget, repeat, t);
    clReleaseKernel(p.kernel);
    return code;
}

/* Times the slice kernel `slices` over `slice_items` work-items and the
 * block kernel `blocks` over one work-item a BLOCK; keeps the faster. */
static int time_patterns(clxent_context *ctx, cl_program program,
                         const char *slices, size_t slice_items,
                         const char *blocks, const probe_arg *args,
                         cl_uint arg_count, const bandwidth *result,
                         double budget, unsigned repeat, timing *t)
{
    timing block_timing;
    const size_t elements = result->buffer_bytes / 16;
    int code = time_kernel(ctx, program, slices, slice_items, args, arg_count,
                           budget, repeat, t);
    if (code == 0)
        code = time_kernel(ctx, program, blocks, elements / BLOCK, args,
                           arg_count, budget, repeat, &block_timing);
    if (code == 0)
        keep_faster(t, &block_timing);
    return code;
}

static int time_copy(clxent_context *ctx, cl_program program, cl_mem source,
                     cl_mem destination, double budget, unsigned repeat,
                     bandwidth *result)
{
    const probe_arg args[] = { { sizeof source, &source },
                               { sizeof destination, &destination } };
    return time_patterns(ctx, program, "copy_float4", result->buffer_bytes / 16,
                         "copy_blocks", args, 2, result, budget, repeat,
                         &result->copy);
}

/* The data are random floats in [-1, 1]: no sum of 64 reaches this. */
#define IMPOSSIBLE_SUM (-1e30f)

static int time_read(clxent_context *ctx, cl_program program, cl_mem source,
                     double budget, unsigned repeat, bandwidth *result)
{
    cl_int code;
    const cl_float impossible = IMPOSSIBLE_SUM;
    cl_mem sink = clCreateBuffer(clxent_cl_context(ctx), CL_MEM_WRITE_ONLY,
                                 sizeof(float), NULL, &code);
    if (report(code, "clCreateBuffer (sink)"))
        return code;
    const probe_arg args[] = { { sizeof source, &source },
                               { sizeof impossible, &impossible },
                               { sizeof sink, &sink } };
    code = time_patterns(
        ctx, program, "read_float4", result->buffer_bytes / 16 / READS_PER_ITEM,
        "read_blocks", args, 3, result, budget, repeat, &result->read);
    clReleaseMemObject(sink);
    return code;
}

int measure_bandwidth(clxent_context *ctx, const device_info *info,
                      double budget, unsigned repeat, bandwidth *result)
{
    int code = -1;
    result->buffer_bytes = buffer_size(info);
    cl_program program = build_probe(ctx);
    cl_mem source = program ? random_buffer(ctx, result->buffer_bytes) : NULL;
    cl_mem destination =
        source ? random_buffer(ctx, result->buffer_bytes) : NULL;

    if (destination) {
        code = time_copy(ctx, program, source, destination, budget, repeat,
                         result);
        if (code == 0)
            code = time_read(ctx, program, source, budget, repeat, result);
    }
    if (code == 0) {
        const double bytes = (double)result->buffer_bytes;
        result->copy_gbps = 2.0 * bytes / result->copy.median * 1e-9;
        result->read_gbps = bytes / result->read.median * 1e-9;
    }
    if (destination)
        clReleaseMemObject(destination);
    if (source)
        clReleaseMemObject(source);
    if (program)
        clReleaseProgram(program);
    return code;
}
