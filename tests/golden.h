/*
 * Reader of the golden vectors in tests/data/, written by tools/make-golden
 * from Keras and PyTorch, so that the tests need no Python.
 *
 * A file is plain text: `#` lines are comments, every other line is
 * `key value...`. Loss settings start from clxent_loss_defaults(kind) and
 * each setting line overrides one field; arrays are `name count v...`.
 */
#ifndef CLXENT_TEST_GOLDEN_H
#define CLXENT_TEST_GOLDEN_H

#include <clxent.h>

#include <stddef.h>
#include <stdint.h>

typedef struct golden_array {
    size_t count; /* 0: absent */
    double *values;
} golden_array;

typedef struct golden_case {
    char name[128];
    char framework[128];
    clxent_loss loss;
    clxent_shape shape;
    clxent_dtype label_dtype; /* I32 or I64; sparse kinds only */

    golden_array predictions;
    golden_array targets; /* dense kinds */
    size_t label_count;   /* sparse kinds */
    int64_t *labels;
    golden_array class_weights;
    golden_array class_alpha;
    golden_array sample_weights;
    golden_array element_weights;
    golden_array pos_weight;

    golden_array loss_values; /* expected: 1 value, or one per loss row */
    golden_array gradient;    /* expected, optional */
} golden_case;

/*
 * Reads one golden file into *out (zeroed first). Returns 0, or -1 with a
 * message naming the file and line in error[error_size]; on failure *out
 * holds nothing that needs freeing.
 */
int golden_read(const char *path, golden_case *out, char *error,
                size_t error_size);

/* Frees the arrays of a case read by golden_read. Accepts NULL. */
void golden_free(golden_case *golden);

/*
 * Lists the regular files of `directory` whose names end with `suffix`,
 * sorted by name, as "directory/name" strings in a malloc'ed array.
 * Returns 0, or -1 when the directory cannot be read or memory runs out.
 */
int golden_list(const char *directory, const char *suffix, char ***paths,
                size_t *count);

/* Frees what golden_list returned. */
void golden_free_list(char **paths, size_t count);

/* The number of loss values the case expects with its reduction. */
size_t golden_loss_count(const golden_case *golden);

#endif /* CLXENT_TEST_GOLDEN_H */
