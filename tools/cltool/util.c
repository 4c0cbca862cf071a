/* Small helpers of cltool: clocks, statistics, JSON text, random data. */
#include "cltool.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median_of(double *values, size_t count)
{
    if (count == 0)
        return NAN;
    qsort(values, count, sizeof *values, compare_doubles);
    if (count % 2)
        return values[count / 2];
    return 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

double min_of(const double *values, size_t count)
{
    double best = count ? values[0] : NAN;
    for (size_t i = 1; i < count; i++)
        if (values[i] < best)
            best = values[i];
    return best;
}

void json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

void json_number(FILE *out, double value)
{
    if (isfinite(value))
        fprintf(out, "%.6g", value);
    else
        fputs("null", out);
}

/* Progress lines would spoil redirected output and logs of tests. */
int progress_wanted(void)
{
    return isatty(STDERR_FILENO);
}

/* xorshift64*: fast enough for hundreds of MB of benchmark data. */
void fill_random_floats(float *values, size_t count, unsigned long long seed,
                        float low, float high)
{
    unsigned long long state = seed * 2654435761ULL + 88172645463325252ULL;
    const float scale = (high - low) / 16777216.0f;
    for (size_t i = 0; i < count; i++) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        const unsigned long long bits = state * 2685821657736338717ULL;
        values[i] = low + scale * (float)(bits >> 40);
    }
}
