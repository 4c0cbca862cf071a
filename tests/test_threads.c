/*
 * What clxent.h promises threads: one context used by one thread at a
 * time, and different contexts used in parallel. Four threads each open
 * their own context on CLXENT_DEVICE and run fifty different problems
 * (every kind, reduction and option the random spec reaches) against the
 * float64 reference; the main thread asserts, since Criterion's
 * assertions belong to it.
 */
#include "support.h"

#include "rng.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { THREADS = 4, PROBLEMS = 50 };

typedef struct worker {
    pthread_t thread;
    uint64_t seed;
    clxent_status open_status;
    size_t disagreements;
    char report[512];
} worker;

static int is_sigmoid(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

static int is_sparse(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

/* The options that fit the kind: softmax weights on softmax kinds,
 * per-output weights on sigmoid kinds, upstream values with NONE. */
static void pick_options(rng *g, problem_spec *spec)
{
    const clxent_loss_kind kind = spec->loss.kind;
    spec->loss.label_smoothing = rng_below(g, 2) ? 0.1f : 0.0f;
    spec->sample_weights = (int)rng_below(g, 2);
    if (is_sigmoid(kind)) {
        spec->element_weights = (int)rng_below(g, 2);
        spec->pos_weight = (int)rng_below(g, 2);
        spec->loss.per_element = (int)rng_below(g, 2);
    } else {
        spec->class_weights = (int)rng_below(g, 2);
        spec->class_alpha = kind == CLXENT_LOSS_CATEGORICAL_FOCAL;
    }
    if (is_sparse(kind)) {
        spec->loss.use_ignore_class = (int)rng_below(g, 2);
        spec->ignore_share = 0.25;
        spec->label_dtype = rng_below(g, 2) ? CLXENT_I64 : CLXENT_I32;
    }
    spec->upstream =
        spec->loss.reduction == CLXENT_REDUCTION_NONE && rng_below(g, 2);
    spec->in_place = (int)rng_below(g, 4) == 0;
}

/* Problem `index` of a thread: kinds and reductions in turn, shapes that
 * make each thread's scratch grow at different moments. */
static problem_spec thread_problem(rng *g, unsigned index)
{
    problem_spec spec =
        spec_defaults((clxent_loss_kind)(index % CLXENT_LOSS_KIND_COUNT));
    spec.loss.reduction = (clxent_reduction)(index / CLXENT_LOSS_KIND_COUNT %
                                             CLXENT_REDUCTION_COUNT);
    spec.loss.from_logits = rng_below(g, 4) != 0;
    spec.shape.rows = 1 + (size_t)rng_below(g, 300);
    spec.shape.classes = 1 + (size_t)rng_below(g, 40);
    spec.shape.spatial =
        is_sigmoid(spec.loss.kind) ? 1 : 1 + (size_t)rng_below(g, 3);
    pick_options(g, &spec);
    return spec;
}

static void *work(void *argument)
{
    worker *w = argument;
    clxent_context *context = NULL;
    clxent_settings settings;
    rng g = rng_seeded(w->seed);
    clxent_default_settings(&settings);
    w->open_status = clxent_open(&context, &settings);
    for (unsigned i = 0; context && i < PROBLEMS; i++) {
        const problem_spec spec = thread_problem(&g, i);
        const uint64_t seed = rng_next(&g);
        char report[400];
        const size_t found =
            problem_disagreements(context, &spec, seed, report, sizeof report);
        if (found && !w->disagreements)
            snprintf(w->report, sizeof w->report, "problem %u: %s", i, report);
        w->disagreements += found;
    }
    clxent_close(&context);
    return NULL;
}

/*
 * POCL 3.1 aborts (pocl_release_dlhandle_cache) when threads compile the
 * same kernel for the first time at once, before clxent is involved: its
 * work-group functions are built at the first launch. One thread runs
 * every kernel variant first, so that the threads meet a warm cache.
 */
static void warm_every_kernel(void)
{
    const clxent_shape shapes[] = {
        { 3, 5, 1 }, { 3, 70, 1 }, { 40, 40, 1 }, { 3, 5, 3 }
    };
    for (int kind = 0; kind < CLXENT_LOSS_KIND_COUNT; kind++)
        for (size_t s = 0; s < 4; s++)
            for (int variant = 0; variant < 4; variant++) {
                problem_spec spec = spec_defaults((clxent_loss_kind)kind);
                spec.shape = shapes[s];
                spec.loss.from_logits = variant & 1;
                spec.label_dtype = (variant & 2) ? CLXENT_I64 : CLXENT_I32;
                if (is_sigmoid(spec.loss.kind))
                    spec.shape.spatial = 1;
                check_problem(&spec, test_seed());
            }
}

Test(threads, contexts_in_parallel_agree_with_the_reference, .timeout = 600)
{
    worker workers[THREADS];
    const uint64_t seed = test_seed();
    warm_every_kernel();
    memset(workers, 0, sizeof workers);
    for (int t = 0; t < THREADS; t++) {
        workers[t].seed = seed + (uint64_t)t * 0x9e3779b97f4a7c15ULL;
        cr_assert_eq(
            pthread_create(&workers[t].thread, NULL, work, &workers[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(workers[t].thread, NULL);
    for (int t = 0; t < THREADS; t++) {
        cr_expect_eq(workers[t].open_status, CLXENT_OK,
                     "thread %d: clxent_open: %s", t,
                     clxent_status_string(workers[t].open_status));
        cr_expect_eq(workers[t].disagreements, 0,
                     "seed %llu, thread %d: %zu disagreements, the first "
                     "in %s",
                     (unsigned long long)seed, t, workers[t].disagreements,
                     workers[t].report);
    }
}
