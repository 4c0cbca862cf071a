/* The command line of cltool: commands, options and help texts. */
#include "cltool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char main_help[] =
    "Crossentropy losses on OpenCL devices, through the clxent library.\n"
    "\n"
    "Commands:\n"
    "  devices   list every OpenCL platform and device with its P:D index\n"
    "  bench     measure memory bandwidth and the throughput of each loss\n"
    "  check     compare every loss with a float64 reference on random data\n"
    "  train     train a linear image classifier on IDX files (CLBlast)\n"
    "\n"
    "Run `cltool COMMAND --help` for the options of a command.\n"
    "\n"
    "Device selectors (--device): P:D (platform and device index, as\n"
    "`cltool devices` lists them), gpu, cpu, all, or part of a device name,\n"
    "ignoring case.\n"
    "\n"
    "Exit codes:\n"
    "  0   success\n"
    "  1   a check failed, or an OpenCL or clxent call failed\n"
    "  2   usage error: unknown option, bad value, malformed selector\n"
    "  3   OpenCL devices exist, but none matches --device\n"
    "  77  no OpenCL device at all (meson test reads 77 as a skip)\n";

static const char devices_help[] =
    "Lists every OpenCL platform and device: P:D index, name, vendor, type,\n"
    "driver version, compute units, global memory, largest allocation, and\n"
    "double and half precision support.\n"
    "\n"
    "Options:\n"
    "  --json   one JSON document (schema \"clxent-devices\", version 1)\n"
    "  --help   this text\n";

static const char bench_help[] =
    "For each selected device: the copy and read bandwidth of device\n"
    "memory, the time from clxent_open to a first result, the launch\n"
    "latency of a tiny batch, then each loss and mode at each shape: median\n"
    "and best time, effective GB/s over the compulsory bytes (each input\n"
    "read once, each output written once), that as a share of the read\n"
    "bandwidth (loss only) or of the copy bandwidth (loss and gradient), and\n"
    "rows per second.\n"
    "\n"
    "Times are device times from profiling events: from a marker enqueued\n"
    "just before clxent_enqueue to the end of its `done` event. Each case\n"
    "has one or two warm-up runs, then as many timed runs as fill the time\n"
    "budget: at least 3, or 1 when a single run takes 4 budgets. GB/s\n"
    "and rows/s use the median; rows are samples times spatial positions.\n"
    "The reduction is the mean.\n"
    "Bandwidth: a buffer of 4 times the device's global memory cache (at\n"
    "least 64 MiB, at most its largest allocation) of random floats; copy\n"
    "counts bytes read plus bytes written. Each takes the faster of two\n"
    "patterns: neighbouring work-items on neighbouring elements (what GPUs\n"
    "coalesce) or a contiguous block each (what CPU prefetchers stream).\n"
    "\n"
    "Options:\n"
    "  --device SEL        devices to measure (default: all)\n"
    "  --loss NAME         sparse-categorical, categorical, focal, binary\n"
    "                      (the default set), sparse-focal, binary-focal or\n"
    "                      all; repeatable, or comma-separated\n"
    "  --shape NxC[xS]     samples x classes, or x spatial positions for an\n"
    "                      N x C x S channels-first tensor (softmax\n"
    "                      losses); repeatable (default: 16384x1000 and\n"
    "                      512x32768 for the softmax losses, 65536x16 for\n"
    "                      the binary ones)\n"
    "  --input INPUT       what the predictions are: logits (default),\n"
    "                      probabilities (Keras's from_logits=False) or\n"
    "                      both\n"
    "  --mode MODE         loss, gradient (loss and gradient) or both\n"
    "                      (default)\n"
    "  --repeat N          exactly N timed runs per case\n"
    "  --time-budget SEC   seconds of timed runs per case (default 0.5)\n"
    "  --json              one JSON document (schema \"clxent-bench\",\n"
    "                      version 1)\n"
    "  --csv               one CSV line per case, after a header line\n"
    "  --help              this text\n";

static const char check_help[] =
    "Runs every loss on each selected device over a matrix of options\n"
    "(logits and probabilities, label smoothing, class, sample and element\n"
    "weights, ignored labels, z-loss and soft-capping, focal alpha and class\n"
    "balancing, per-element binary losses, upstream gradients), shapes\n"
    "(small rows, channels-first rows, rows of 20000 classes) and all four\n"
    "reductions, on fresh random data, and compares loss, gradient and\n"
    "accuracy count with a float64 reference.\n"
    "\n"
    "Tolerances, |device - reference| <= abs + rel * |reference|:\n"
    "  losses                                abs 1e-6, rel 1e-5\n"
    "  gradients                             abs 1e-6, rel 1e-5\n"
    "  focal losses, and any loss computed   abs 1e-5, rel 1e-4\n"
    "  from probabilities (both outputs)\n"
    "  accuracy counts                       exact\n"
    "NaN matches NaN only, an infinity the same infinity only.\n"
    "\n"
    "Options:\n"
    "  --device SEL   devices to check (default: all)\n"
    "  --loss NAME    as for bench; default: every loss\n"
    "  --seed N       seed of the random data (default: from the clock;\n"
    "                 printed either way)\n"
    "  --help         this text\n";

static const char *const usage_lines[] = {
    [COMMAND_NONE] = "usage: cltool [--help] [--version] COMMAND [OPTIONS]",
    [COMMAND_DEVICES] = "usage: cltool devices [--json]",
    [COMMAND_BENCH] =
        "usage: cltool bench [--device SEL] [--loss NAME]... "
        "[--shape NxC[xS]]...\n"
        "                    [--input INPUT] [--mode MODE]\n"
        "                    [--repeat N | --time-budget SEC] [--json | --csv]",
    [COMMAND_CHECK] =
        "usage: cltool check [--device SEL] [--loss NAME]... [--seed N]",
};

static const char *const loss_names[CLXENT_LOSS_KIND_COUNT] = {
    [CLXENT_LOSS_CATEGORICAL] = "categorical",
    [CLXENT_LOSS_SPARSE_CATEGORICAL] = "sparse-categorical",
    [CLXENT_LOSS_CATEGORICAL_FOCAL] = "focal",
    [CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL] = "sparse-focal",
    [CLXENT_LOSS_BINARY] = "binary",
    [CLXENT_LOSS_BINARY_FOCAL] = "binary-focal",
};

const char *loss_name(clxent_loss_kind kind)
{
    return (unsigned)kind < CLXENT_LOSS_KIND_COUNT ? loss_names[kind] : "?";
}

int is_sigmoid_kind(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

int is_sparse_kind(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

void print_usage(FILE *out, command cmd)
{
    fprintf(out, "%s\n", usage_lines[cmd]);
}

void print_help(FILE *out, command cmd)
{
    const char *const texts[] = { main_help, devices_help, bench_help,
                                  check_help };
    print_usage(out, cmd);
    fprintf(out, "\n%s", texts[cmd]);
}

static int usage_error(command cmd, const char *format, const char *what)
{
    fprintf(stderr, "cltool: ");
    fprintf(stderr, format, what);
    fputc('\n', stderr);
    print_usage(stderr, cmd);
    return EXIT_USAGE;
}

static int parse_losses(const char *text, unsigned *losses)
{
    char name[64];
    while (*text) {
        const size_t length = strcspn(text, ",");
        if (length == 0 || length >= sizeof name)
            return 0;
        memcpy(name, text, length);
        name[length] = '\0';
        text += length + (text[length] == ',');
        if (strcmp(name, "all") == 0) {
            *losses |= (1u << CLXENT_LOSS_KIND_COUNT) - 1;
            continue;
        }
        int found = 0;
        for (int k = 0; k < CLXENT_LOSS_KIND_COUNT; k++)
            if (strcmp(name, loss_names[k]) == 0) {
                *losses |= 1u << k;
                found = 1;
            }
        if (!found)
            return 0;
    }
    return 1;
}

/* A positive decimal number and nothing else. */
static int parse_count(const char *text, unsigned long long *value)
{
    char *end;
    if (*text < '0' || *text > '9')
        return 0;
    errno = 0;
    *value = strtoull(text, &end, 10);
    return errno == 0 && *end == '\0';
}

/* One positive decimal size at text, up to its end or an 'x'. */
static int parse_size(const char **text, unsigned long long *value)
{
    char *end;
    if (**text < '1' || **text > '9')
        return 0;
    errno = 0;
    *value = strtoull(*text, &end, 10);
    *text = end;
    return errno == 0;
}

/* NxC or NxCxS: samples, classes and, for channels-first tensors, the
 * spatial size; every value array stays under SIZE_MAX bytes. */
static int parse_shape(const char *text, clxent_shape *shape)
{
    unsigned long long sizes[3] = { 0, 0, 1 };
    int count = 0;
    for (;;) {
        if (!parse_size(&text, &sizes[count++]))
            return 0;
        if (count == 3 || *text != 'x')
            break;
        text++;
    }
    if (count < 2 || *text != '\0')
        return 0;
    const unsigned long long most = (size_t)-1 / 8;
    if (sizes[0] > most / sizes[1] || sizes[0] * sizes[1] > most / sizes[2])
        return 0;
    shape->rows = (size_t)sizes[0];
    shape->classes = (size_t)sizes[1];
    shape->spatial = (size_t)sizes[2];
    return 1;
}

static int parse_seconds(const char *text, double *seconds)
{
    char *end;
    errno = 0;
    *seconds = strtod(text, &end);
    return errno == 0 && *end == '\0' && end != text && *seconds > 0 &&
           *seconds <= 3600;
}

static int parse_inputs(const char *text, unsigned *inputs)
{
    if (strcmp(text, "logits") == 0)
        *inputs = INPUT_LOGITS;
    else if (strcmp(text, "probabilities") == 0)
        *inputs = INPUT_PROBABILITIES;
    else if (strcmp(text, "both") == 0)
        *inputs = INPUT_LOGITS | INPUT_PROBABILITIES;
    else
        return 0;
    return 1;
}

static int parse_mode(const char *text, unsigned *modes)
{
    if (strcmp(text, "loss") == 0)
        *modes = MODE_LOSS;
    else if (strcmp(text, "gradient") == 0)
        *modes = MODE_GRADIENT;
    else if (strcmp(text, "both") == 0)
        *modes = MODE_LOSS | MODE_GRADIENT;
    else
        return 0;
    return 1;
}

/* Which options each command takes; --help everywhere. */
static int option_allowed(command cmd, const char *name)
{
    static const char *const devices[] = { "--json", NULL };
    static const char *const bench[] = {
        "--device", "--loss",        "--shape", "--input", "--mode",
        "--repeat", "--time-budget", "--json",  "--csv",   NULL
    };
    static const char *const check[] = { "--device", "--loss", "--seed", NULL };
    const char *const *const lists[] = { NULL, devices, bench, check };
    if (strcmp(name, "--help") == 0)
        return 1;
    for (const char *const *o = lists[cmd]; o && *o; o++)
        if (strcmp(*o, name) == 0)
            return 1;
    return 0;
}

static int takes_value(const char *name)
{
    static const char *const valued[] = { "--device",      "--loss", "--shape",
                                          "--input",       "--mode", "--repeat",
                                          "--time-budget", "--seed", NULL };
    for (const char *const *o = valued; *o; o++)
        if (strcmp(*o, name) == 0)
            return 1;
    return 0;
}

static int apply_value(options *opts, const char *name, const char *value)
{
    unsigned long long count;
    int ok = 1;
    if (strcmp(name, "--device") == 0) {
        opts->device = value;
    } else if (strcmp(name, "--loss") == 0) {
        ok = parse_losses(value, &opts->losses);
    } else if (strcmp(name, "--shape") == 0) {
        if (opts->shape_count == MAX_SHAPES)
            return usage_error(opts->command, "at most 16 shapes", "");
        ok = parse_shape(value, &opts->shapes[opts->shape_count++]);
    } else if (strcmp(name, "--input") == 0) {
        ok = parse_inputs(value, &opts->inputs);
    } else if (strcmp(name, "--mode") == 0) {
        ok = parse_mode(value, &opts->modes);
    } else if (strcmp(name, "--repeat") == 0) {
        ok = parse_count(value, &count) && count >= 1 && count <= 1000000;
        opts->repeat = (unsigned)count;
    } else if (strcmp(name, "--time-budget") == 0) {
        ok = parse_seconds(value, &opts->time_budget);
    } else if (strcmp(name, "--seed") == 0) {
        ok = parse_count(value, &opts->seed);
        opts->seed_given = 1;
    }
    if (!ok) {
        fprintf(stderr, "cltool: bad value '%s' for %s\n", value, name);
        print_usage(stderr, opts->command);
        return EXIT_USAGE;
    }
    return 0;
}

static int apply_flag(options *opts, const char *name)
{
    if (strcmp(name, "--help") == 0)
        opts->help = 1;
    else if (strcmp(name, "--json") == 0)
        opts->json = 1;
    else if (strcmp(name, "--csv") == 0)
        opts->csv = 1;
    return 0;
}

/* One option of a command at argv[*at], as `--name value` or
 * `--name=value`; moves *at past what it used. */
static int parse_one(int argc, char **argv, int *at, options *opts)
{
    char name[32];
    const char *arg = argv[*at];
    const char *equals = strchr(arg, '=');
    const size_t length = equals ? (size_t)(equals - arg) : strlen(arg);
    if (strncmp(arg, "--", 2) != 0 || length >= sizeof name)
        return usage_error(opts->command, "unexpected argument '%s'", arg);
    memcpy(name, arg, length);
    name[length] = '\0';
    if (!option_allowed(opts->command, name))
        return usage_error(opts->command, "unknown option '%s'", name);
    if (!takes_value(name)) {
        if (equals)
            return usage_error(opts->command, "%s takes no value", name);
        (*at)++;
        return apply_flag(opts, name);
    }
    if (!equals && *at + 1 >= argc)
        return usage_error(opts->command, "%s needs a value", name);
    const char *value = equals ? equals + 1 : argv[*at + 1];
    *at += equals ? 1 : 2;
    return apply_value(opts, name, value);
}

static int parse_command(const char *word, options *opts)
{
    static const char *const names[] = { NULL, "devices", "bench", "check" };
    for (int c = COMMAND_DEVICES; c <= COMMAND_CHECK; c++)
        if (strcmp(word, names[c]) == 0) {
            opts->command = (command)c;
            return 0;
        }
    if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)
        opts->help = 1;
    else if (strcmp(word, "--version") == 0)
        opts->version = 1;
    else if (word[0] == '-')
        return usage_error(COMMAND_NONE, "unknown option '%s'", word);
    else
        return usage_error(COMMAND_NONE, "unknown command '%s'", word);
    return 0;
}

static int check_combination(const options *opts)
{
    if (opts->json && opts->csv)
        return usage_error(opts->command, "%s",
                           "--json and --csv exclude "
                           "each other");
    if (opts->repeat && opts->time_budget > 0)
        return usage_error(opts->command, "%s",
                           "--repeat and --time-budget "
                           "exclude each other");
    return 0;
}

/*
 * Fills *opts from the command line. Returns 0, or EXIT_USAGE after a
 * message and the usage line on stderr.
 */
int parse_options(int argc, char **argv, options *opts)
{
    int at = 1, status;
    memset(opts, 0, sizeof *opts);
    while (at < argc && opts->command == COMMAND_NONE && !opts->help &&
           !opts->version)
        if ((status = parse_command(argv[at++], opts)))
            return status;
    if (opts->command == COMMAND_NONE) {
        if (at < argc)
            return usage_error(COMMAND_NONE, "unexpected argument '%s'",
                               argv[at]);
        if (!opts->help && !opts->version)
            return usage_error(COMMAND_NONE, "%s", "a command is required");
        return 0;
    }
    while (at < argc)
        if ((status = parse_one(argc, argv, &at, opts)))
            return status;
    return check_combination(opts);
}
