/*
 * Measures the extra memory the linear head takes for one batch:
 *
 *   clxent-head-memory [ROWS HIDDEN CLASSES]   (default 8192 1024 32768)
 *
 * Allocates X, W, b, labels, dX, dW and db on the device, runs a small
 * head first (so that CLBlast's and clxent's kernels are built), then the
 * whole batch once with reduction MEAN, and prints the growth of the
 * process's peak resident memory across that run. On a CPU device, whose
 * buffers are host memory, that growth bounds the head's extra device
 * memory from above (it also holds whatever the driver allocates).
 */
#include <clxent.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static long peak_kib(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

/* A device buffer of `bytes`, filled so that its pages are resident. */
static cl_mem filled(clxent_context *ctx, size_t bytes, float value)
{
    cl_int code = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(clxent_cl_context(ctx), CL_MEM_READ_WRITE,
                                bytes, NULL, &code);
    if (code == CL_SUCCESS)
        code = clEnqueueFillBuffer(clxent_queue(ctx), mem, &value, sizeof value,
                                   0, bytes, 0, NULL, NULL);
    if (code != CL_SUCCESS) {
        fprintf(stderr, "buffer of %zu bytes: OpenCL error %d\n", bytes,
                (int)code);
        exit(1);
    }
    return mem;
}

static clxent_status run_head(clxent_context *ctx, size_t rows, size_t hidden,
                              size_t classes)
{
    clxent_loss loss = clxent_loss_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    clxent_head_args args = clxent_head_args_defaults();
    loss.from_logits = 1;
    args.inputs.mem = filled(ctx, rows * hidden * 4, 0.01f);
    args.weights.mem = filled(ctx, classes * hidden * 4, 0.02f);
    args.bias.mem = filled(ctx, classes * 4, 0.0f);
    args.targets.mem = filled(ctx, rows * 4, 0.0f); /* label 0 everywhere */
    args.loss.mem = filled(ctx, 4, 0.0f);
    args.input_gradient.mem = filled(ctx, rows * hidden * 4, 0.0f);
    args.weight_gradient.mem = filled(ctx, classes * hidden * 4, 0.0f);
    args.bias_gradient.mem = filled(ctx, classes * 4, 0.0f);
    clFinish(clxent_queue(ctx));

    const long before = peak_kib();
    clxent_status status = clxent_head_enqueue(ctx, &loss, rows, hidden,
                                               classes, &args, 0, NULL, NULL);
    if (status == CLXENT_OK)
        status = clxent_finish(ctx);
    printf("%zu x %zu x %zu: %s, peak resident memory grew by %.1f MiB\n", rows,
           hidden, classes, clxent_status_string(status),
           (peak_kib() - before) / 1024.0);
    clReleaseMemObject(args.inputs.mem);
    clReleaseMemObject(args.weights.mem);
    clReleaseMemObject(args.bias.mem);
    clReleaseMemObject(args.targets.mem);
    clReleaseMemObject(args.loss.mem);
    clReleaseMemObject(args.input_gradient.mem);
    clReleaseMemObject(args.weight_gradient.mem);
    clReleaseMemObject(args.bias_gradient.mem);
    return status;
}

int main(int argc, char **argv)
{
    clxent_context *ctx = NULL;
    clxent_settings settings;
    const size_t rows = argc > 3 ? strtoul(argv[1], NULL, 10) : 8192;
    const size_t hidden = argc > 3 ? strtoul(argv[2], NULL, 10) : 1024;
    const size_t classes = argc > 3 ? strtoul(argv[3], NULL, 10) : 32768;
    clxent_default_settings(&settings);
    if (clxent_open(&ctx, &settings) != CLXENT_OK)
        return 1;
    run_head(ctx, 64, 64, 64);
    const clxent_status status = run_head(ctx, rows, hidden, classes);
    printf("the full logits would take %.1f MiB\n",
           rows * classes * 4.0 / (1 << 20));
    clxent_close(&ctx);
    return status == CLXENT_OK ? 0 : 1;
}
