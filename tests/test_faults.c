/*
 * Failures that bad input does not cause: an allocation the device
 * refuses. The request must come back as CLXENT_ERROR_OUT_OF_MEMORY,
 * with the OpenCL code kept, and the context must compute the next valid
 * problem as the reference does.
 *
 * The host arrays of the oversized request are one anonymous mapping
 * reserved without backing (MAP_NORESERVE): untouched pages cost no
 * memory, and reading them gives zeros, so even a library that copied
 * them would not exhaust the machine before the device refuses.
 *
 * A kernel build failure has no honest trigger through the public API:
 * the kernel sources are built into the library and the build options
 * are the library's own. It is not tested here.
 */
/* MAP_ANONYMOUS and MAP_NORESERVE are beyond POSIX. */
#define _DEFAULT_SOURCE

#include "support.h"

#include <criterion/criterion.h>
#include <sys/mman.h>

static cl_ulong max_allocation(void)
{
    cl_ulong bytes = 0;
    cr_assert_eq(clGetDeviceInfo(clxent_device(test_context()),
                                 CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof bytes,
                                 &bytes, NULL),
                 CL_SUCCESS);
    return bytes;
}

static void *reserve(size_t bytes)
{
    void *region = mmap(NULL, bytes, PROT_READ,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    cr_assert_neq(region, MAP_FAILED, "cannot reserve %zu bytes", bytes);
    return region;
}

Test(faults, oversized_request_is_out_of_memory_and_context_survives,
     .timeout = 300)
{
    clxent_context *context = test_context();
    const cl_ulong limit = max_allocation();
    /* One class per row: predictions and targets are rows floats each,
     * one float more than the device's largest allocation. */
    const clxent_shape shape = { (size_t)(limit / sizeof(float)) + 1, 1, 1 };
    const size_t bytes = shape.rows * sizeof(float);
    const float *zeros = reserve(bytes);
    clxent_loss loss = clxent_loss_defaults(CLXENT_LOSS_CATEGORICAL);
    clxent_host_args args = clxent_host_args_defaults();
    clxent_error error;
    float value = -1.0f;
    loss.from_logits = 1;
    args.predictions = zeros;
    args.targets = zeros;
    args.loss = &value;

    const clxent_status status = clxent_compute(context, &loss, &shape, &args);
    clxent_last_error(context, &error);
    munmap((void *)zeros, bytes);
    cr_expect_eq(status, CLXENT_ERROR_OUT_OF_MEMORY,
                 "%zu rows over a %llu-byte limit: %s (%s)", shape.rows,
                 (unsigned long long)limit, clxent_status_string(status),
                 error.message);
    cr_expect_eq(error.status, status);
    cr_expect_eq(value, -1.0f, "an output was written on failure");

    for (int kind = 0; kind < CLXENT_LOSS_KIND_COUNT; kind++) {
        const problem_spec spec = spec_defaults((clxent_loss_kind)kind);
        cr_expect_eq(check_problem(&spec, test_seed() + (uint64_t)kind),
                     CLXENT_OK, "kind %d after the failure", kind);
    }
}
