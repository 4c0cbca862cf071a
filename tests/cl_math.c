/*
 * The kernels' own exp, log1p, expm1 and log (cl/common.h:
 * exp_nonpositive, log1p_unit, expm1_nonpositive and log_normal) against
 * the float64 libm, on the device, over their whole ranges: every 61st
 * float of each range plus the edges and the special values.
 *
 *   cl_math FOLDER
 *
 * FOLDER holds common.h. Exits 0 when all stay within their bounds, 1
 * with the worst cases otherwise, 77 (a skip) when there is no OpenCL
 * device.
 */
#include "cl_build.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bounds the functions are documented with, in units in the last
 * place of the float result. */
#define EXP_ULPS   1.5
#define LOG1P_ULPS 3.0
#define EXPM1_ULPS 2.0
#define LOG_ULPS   3.0
#define STRIDE     61u

static const char *kernel_source =
    "#include \"common.h\"\n"
    "__kernel void apply(__global const float *in, __global float *out,\n"
    "                    int which)\n"
    "{\n"
    "    const size_t i = get_global_id(0) * VECTOR_WIDTH;\n"
    "    const floatv x = vload16(0, in + i);\n"
    "    floatv y = exp_nonpositive(x);\n"
    "    if (which == 1)\n"
    "        y = log1p_unit(x);\n"
    "    if (which == 2)\n"
    "        y = expm1_nonpositive(x, y);\n"
    "    if (which == 3)\n"
    "        y = log_normal(x);\n"
    "    vstore16(y, 0, out + i);\n"
    "}\n";

static float from_bits(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static uint32_t to_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

/* Inputs: `specials`, then every STRIDE-th float from lo to hi (by bit
 * pattern, both of one sign), padded to a whole number of vectors with
 * the last one. */
static float *make_inputs(float lo, float hi, const float *specials,
                          size_t special_count, size_t *count)
{
    uint32_t a = to_bits(lo), b = to_bits(hi);
    if (a > b) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    size_t n = special_count + (b - a) / STRIDE + 2;
    n = (n + 15) / 16 * 16;
    float *in = malloc(n * sizeof *in);
    if (!in)
        return NULL;
    size_t k = 0;
    for (; k < special_count; k++)
        in[k] = specials[k];
    for (uint32_t bits = a; bits <= b - STRIDE && k < n; bits += STRIDE)
        in[k++] = from_bits(bits);
    while (k < n)
        in[k++] = hi;
    *count = n;
    return in;
}

static double ulp_of(double want)
{
    const float w = fabsf((float)want);
    return (double)nextafterf(w, INFINITY) - (double)w;
}

/* The error of `got` in ulps of `want`, or HUGE_VAL where a special value
 * is wrong. exp below FLT_MIN may give 0 (documented). */
static double error_ulps(double want, float got, int exp_rule)
{
    if (isnan(want))
        return isnan(got) ? 0.0 : HUGE_VAL;
    if (isnan(got) || isinf(got))
        return HUGE_VAL;
    if (exp_rule && want < FLT_MIN)
        return got == 0.0f || fabs(got - want) <= ulp_of(want) ? 0.0 : HUGE_VAL;
    return fabs((double)got - want) / ulp_of(want);
}

static int run(cl_context context, cl_command_queue queue, cl_kernel kernel,
               int which, const float *in, size_t n, float *out)
{
    cl_int code = CL_SUCCESS;
    const size_t bytes = n * sizeof *in, items = n / 16;
    cl_mem a = clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                              bytes, (void *)in, &code);
    cl_mem b = clCreateBuffer(context, CL_MEM_WRITE_ONLY, bytes, NULL, &code);
    if (code == CL_SUCCESS) {
        clSetKernelArg(kernel, 0, sizeof a, &a);
        clSetKernelArg(kernel, 1, sizeof b, &b);
        clSetKernelArg(kernel, 2, sizeof which, &which);
        code = clEnqueueNDRangeKernel(queue, kernel, 1, NULL, &items, NULL, 0,
                                      NULL, NULL);
    }
    if (code == CL_SUCCESS)
        code = clEnqueueReadBuffer(queue, b, CL_TRUE, 0, bytes, out, 0, NULL,
                                   NULL);
    clReleaseMemObject(a);
    clReleaseMemObject(b);
    return code == CL_SUCCESS;
}

/* The functions, in the kernel's `which` order. */
static const float exp_specials[] = {
    0.0f,   -0.0f,      -FLT_MIN,  -1e-30f, -1e-7f,  -0.34657359f, -1.0f,
    -87.3f, -87.33654f, -87.3366f, -88.0f,  -100.0f, -INFINITY,    NAN,
};
static const float log1p_specials[] = {
    0.0f,        FLT_MIN,     1e-40f,      1e-30f, 1e-8f, 1e-4f, 0.25f,
    0.41421354f, 0.41421356f, 0.41421358f, 0.5f,   1.0f,  NAN,
};
static const float expm1_specials[] = {
    0.0f,         -0.0f, -FLT_MIN, -1e-30f, -1e-7f,  -0.49999997f, -0.5f,
    -0.50000006f, -1.0f, -20.0f,   -88.0f,  -100.0f, -INFINITY,    NAN,
};
static const float log_specials[] = {
    FLT_MIN,     1e-30f,      1e-7f,       0.25f, 0.5f,
    0.70710677f, 0.70710683f, 0.99999994f, 1.0f,  NAN,
};

static const struct {
    const char *name;
    float lo, hi;
    const float *specials;
    size_t special_count;
    double bound;
    double (*want)(double);
    int exp_rule; /* results below FLT_MIN may be 0 */
} functions[] = {
    { "exp_nonpositive", -88.0f, -0.0f, exp_specials,
      sizeof exp_specials / sizeof(float), EXP_ULPS, exp, 1 },
    { "log1p_unit", 0.0f, 1.0f, log1p_specials,
      sizeof log1p_specials / sizeof(float), LOG1P_ULPS, log1p, 0 },
    { "expm1_nonpositive", -88.0f, -0.0f, expm1_specials,
      sizeof expm1_specials / sizeof(float), EXPM1_ULPS, expm1, 0 },
    { "log_normal", FLT_MIN, 1.0f, log_specials,
      sizeof log_specials / sizeof(float), LOG_ULPS, log, 0 },
};

/* Checks one function; prints its worst error. Returns 1 when it holds. */
static int check(cl_context context, cl_command_queue queue, cl_kernel kernel,
                 int which)
{
    const char *name = functions[which].name;
    const double bound = functions[which].bound;
    size_t n = 0;
    float *in = make_inputs(functions[which].lo, functions[which].hi,
                            functions[which].specials,
                            functions[which].special_count, &n);
    float *out = in ? malloc(n * sizeof *out) : NULL;
    int ok = out && run(context, queue, kernel, which, in, n, out);
    double worst = 0.0;
    float worst_at = 0.0f;
    for (size_t i = 0; ok && i < n; i++) {
        const double want = functions[which].want((double)in[i]);
        const double e = error_ulps(want, out[i], functions[which].exp_rule);
        if (e > worst || isnan(e)) {
            worst = e;
            worst_at = in[i];
        }
    }
    if (ok)
        printf("%s: %zu inputs, worst %.3f ulp at %.9g (bound %.1f)\n", name, n,
               worst, worst_at, bound);
    else
        fprintf(stderr, "%s: could not run\n", name);
    free(in);
    free(out);
    return ok && worst <= bound;
}

int main(int argc, char **argv)
{
    cl_device_id device;
    cl_context context;
    cl_int code = CL_SUCCESS;
    if (argc != 2) {
        fprintf(stderr, "usage: cl_math FOLDER\n");
        return 2;
    }
    const int status = open_test_device(&device, &context);
    if (status != 0)
        return status;
    cl_command_queue queue = clCreateCommandQueue(context, device, 0, &code);
    cl_program program =
        build_source(context, device, kernel_source, argv[1], "cl_math");
    if (!program)
        return 1;
    cl_kernel kernel = clCreateKernel(program, "apply", &code);
    int ok = code == CL_SUCCESS;
    for (int which = 0; ok && which < 4; which++)
        ok = check(context, queue, kernel, which) && ok;
    clReleaseKernel(kernel);
    clReleaseProgram(program);
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
    return ok ? 0 : 1;
}
