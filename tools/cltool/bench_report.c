/* The outputs of `cltool bench`: a table, CSV lines or one JSON document. */
#include "bench.h"

#include <math.h>

#define TIMING_NOTE                                                            \
    "device time from a marker enqueued before clxent_enqueue to the end "     \
    "of its done event (profiling); GB/s and rows/s from the median"

const char *mode_name(unsigned mode)
{
    return mode == MODE_GRADIENT ? "loss+gradient" : "loss";
}

const char *input_name(unsigned input)
{
    return input == INPUT_PROBABILITIES ? "probabilities" : "logits";
}

static const char *ceiling_name(unsigned mode)
{
    return mode == MODE_GRADIENT ? "copy" : "read";
}

static void print_device_header(const device_bench *dev)
{
    const bandwidth *bw = &dev->bandwidth;
    printf("device %s: %s (%s, %s, %u compute units)\n", dev->info.index,
           dev->info.name, dev->info.platform, dev->info.type,
           dev->info.compute_units);
    if (dev->first_result_seconds > 0)
        printf("  first result    %.3f s from clxent_open, program builds "
               "included\n",
               dev->first_result_seconds);
    if (dev->latency_runs)
        printf("  launch latency  %.1f us per %dx%d batch (enqueue to "
               "clxent_finish, wall, median of %u)\n",
               dev->launch_latency * 1e6, 64, 10, dev->latency_runs);
    if (bw->copy.runs && bw->read.runs)
        printf("  bandwidth       copy %.2f GB/s, read %.2f GB/s (%zu MiB, "
               "median of %u and %u runs)\n",
               bw->copy_gbps, bw->read_gbps, bw->buffer_bytes >> 20,
               bw->copy.runs, bw->read.runs);
    if (dev->error[0])
        printf("  error           %s\n", dev->error);
}

static void print_case_row(const bench_case *c)
{
    char shape[72];
    const int n = snprintf(shape, sizeof shape, "%zux%zu", c->shape.rows,
                           c->shape.classes);
    if (c->shape.spatial > 1)
        snprintf(shape + n, sizeof shape - (size_t)n, "x%zu", c->shape.spatial);
    printf("  %-18s %-13s %-6s %-13s", loss_name(c->kind), shape,
           c->input == INPUT_PROBABILITIES ? "probs" : "logits",
           mode_name(c->mode));
    if (c->error[0]) {
        printf(" error: %s\n", c->error);
        return;
    }
    printf(" %5u %10.3f %10.3f %8.2f %6.1f %-4s %9.3f\n", c->time.runs,
           c->time.median * 1e3, c->time.best * 1e3, c->gbps, c->percent,
           ceiling_name(c->mode), c->rows_per_second * 1e-6);
}

void print_bench_table(const device_bench *devices, size_t count)
{
    printf("cltool bench, clxent %s\ntimes: %s\n", clxent_version_string(),
           TIMING_NOTE);
    for (size_t d = 0; d < count; d++) {
        const device_bench *dev = &devices[d];
        printf("\n");
        print_device_header(dev);
        if (!dev->case_count || (dev->error[0] && !dev->cases[0].time.runs))
            continue;
        printf("\n  %-18s %-13s %-6s %-13s %5s %10s %10s %8s %11s %9s\n",
               "loss", "shape", "input", "mode", "runs", "median ms", "best ms",
               "GB/s", "% of bw", "Mrows/s");
        for (size_t i = 0; i < dev->case_count; i++)
            print_case_row(&dev->cases[i]);
    }
}

static void csv_text(const char *text)
{
    putchar('"');
    for (; *text; text++) {
        if (*text == '"')
            putchar('"');
        putchar(*text);
    }
    putchar('"');
}

void print_bench_csv(const device_bench *devices, size_t count)
{
    printf("device,device_name,loss,rows,classes,spatial,input,mode,runs,"
           "median_ms,best_ms,bytes,gb_per_s,percent_of_bandwidth,bandwidth,"
           "rows_per_s,error\n");
    for (size_t d = 0; d < count; d++) {
        const device_bench *dev = &devices[d];
        for (size_t i = 0; i < dev->case_count; i++) {
            const bench_case *c = &dev->cases[i];
            printf("%s,", dev->info.index);
            csv_text(dev->info.name);
            printf(",%s,%zu,%zu,%zu,%s,%s,%u,%.6f,%.6f,%.0f,%.4f,%.2f,%s,%.1f,",
                   loss_name(c->kind), c->shape.rows, c->shape.classes,
                   c->shape.spatial, input_name(c->input), mode_name(c->mode),
                   c->time.runs, c->time.median * 1e3, c->time.best * 1e3,
                   c->bytes, c->gbps, c->percent, ceiling_name(c->mode),
                   c->rows_per_second);
            csv_text(c->error[0] ? c->error : dev->error);
            putchar('\n');
        }
    }
}

static void json_key_number(const char *key, double value, const char *after)
{
    printf("\"%s\": ", key);
    json_number(stdout, value);
    fputs(after, stdout);
}

static void json_timing(const char *key, const timing *t, double gbps)
{
    printf("\"%s\": {\"runs\": %u, ", key, t->runs);
    json_key_number("median_s", t->runs ? t->median : NAN, ", ");
    json_key_number("best_s", t->runs ? t->best : NAN, ", ");
    json_key_number("gb_per_s", t->runs ? gbps : NAN, "}");
}

static void json_case(const bench_case *c, int last)
{
    const int ran = c->error[0] == '\0';
    printf("        {\"loss\": \"%s\", \"rows\": %zu, \"classes\": %zu, "
           "\"spatial\": %zu, \"input\": \"%s\",\n         \"mode\": \"%s\", "
           "\"runs\": %u, ",
           loss_name(c->kind), c->shape.rows, c->shape.classes,
           c->shape.spatial, input_name(c->input),
           c->mode == MODE_GRADIENT ? "loss_and_gradient" : "loss",
           c->time.runs);
    json_key_number("median_s", ran ? c->time.median : NAN, ", ");
    json_key_number("best_s", ran ? c->time.best : NAN, ", ");
    json_key_number("bytes", ran ? c->bytes : NAN, ",\n         ");
    json_key_number("gb_per_s", ran ? c->gbps : NAN, ", ");
    json_key_number("percent_of_bandwidth", ran ? c->percent : NAN, ", ");
    printf("\"bandwidth\": \"%s\", ", ceiling_name(c->mode));
    json_key_number("rows_per_s", ran ? c->rows_per_second : NAN,
                    ",\n         \"error\": ");
    if (ran)
        printf("null");
    else
        json_string(stdout, c->error);
    printf("}%s\n", last ? "" : ",");
}

static void json_device(const device_bench *dev, int last)
{
    const bandwidth *bw = &dev->bandwidth;
    printf("    {\"index\": \"%s\", \"name\": ", dev->info.index);
    json_string(stdout, dev->info.name);
    printf(", \"platform\": ");
    json_string(stdout, dev->info.platform);
    printf(", \"type\": \"%s\",\n     \"compute_units\": %u,\n", dev->info.type,
           dev->info.compute_units);
    printf("     \"bandwidth\": {\"buffer_bytes\": %zu, ", bw->buffer_bytes);
    json_timing("copy", &bw->copy, bw->copy_gbps);
    printf(", ");
    json_timing("read", &bw->read, bw->read_gbps);
    printf("},\n     ");
    json_key_number(
        "first_result_s",
        dev->first_result_seconds > 0 ? dev->first_result_seconds : NAN, ", ");
    json_key_number("launch_latency_s",
                    dev->latency_runs ? dev->launch_latency : NAN,
                    ",\n     \"error\": ");
    if (dev->error[0])
        json_string(stdout, dev->error);
    else
        printf("null");
    printf(",\n     \"results\": [\n");
    for (size_t i = 0; i < dev->case_count; i++)
        json_case(&dev->cases[i], i + 1 == dev->case_count);
    printf("     ]}%s\n", last ? "" : ",");
}

void print_bench_json(const device_bench *devices, size_t count)
{
    printf("{\n  \"schema\": \"clxent-bench\",\n  \"schema_version\": %d,\n"
           "  \"clxent_version\": \"%s\",\n  \"timing\": \"%s\",\n"
           "  \"devices\": [\n",
           BENCH_SCHEMA_VERSION, clxent_version_string(), TIMING_NOTE);
    for (size_t d = 0; d < count; d++)
        json_device(&devices[d], d + 1 == count);
    printf("  ]\n}\n");
}
