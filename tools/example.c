/*
 * The smallest useful clxent program: sparse categorical crossentropy of
 * a batch of 4 rows of 3 logits, with its gradient, on the default device
 * (or the one CLXENT_DEVICE names).
 */
#include <clxent.h>

#include <stdio.h>

int main(void)
{
    const float logits[4 * 3] = { 2.0f, 1.0f, 0.1f, 0.5f, 2.5f, 0.3f,
                                  1.2f, 0.2f, 3.1f, 0.0f, 0.0f, 0.0f };
    const int labels[4] = { 0, 1, 2, 1 };
    float loss = 0.0f, gradient[4 * 3];
    uint64_t correct = 0;
    clxent_context *ctx = NULL;
    clxent_settings settings;

    clxent_default_settings(&settings);
    clxent_status status = clxent_open(&ctx, &settings);
    if (status != CLXENT_OK) {
        fprintf(stderr, "clxent_open: %s\n", clxent_status_string(status));
        return 1;
    }

    clxent_loss sparse = clxent_loss_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    sparse.from_logits = 1;
    const clxent_shape shape = { 4, 3, 1 };
    clxent_host_args args = clxent_host_args_defaults();
    args.predictions = logits;
    args.targets = labels;
    args.loss = &loss;
    args.gradient = gradient;
    args.correct = &correct;
    status = clxent_compute(ctx, &sparse, &shape, &args);
    if (status != CLXENT_OK) {
        clxent_error error;
        clxent_last_error(ctx, &error);
        fprintf(stderr, "clxent_compute: %s\n", error.message);
        clxent_close(&ctx);
        return 1;
    }

    printf("mean loss %.6f, %llu of 4 rows correct\n", loss,
           (unsigned long long)correct);
    for (int r = 0; r < 4; r++)
        printf("gradient row %d: %+.6f %+.6f %+.6f\n", r, gradient[r * 3],
               gradient[r * 3 + 1], gradient[r * 3 + 2]);
    clxent_close(&ctx);
    return 0;
}
