/* Reader of the golden vectors; the format is described in golden.h. */
#define _POSIX_C_SOURCE 200809L

#include "golden.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct parser {
    const char *path;
    size_t line; /* 0: the file as a whole */
    char *error;
    size_t error_size;
    int kind_seen;
} parser;

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(parser *p, const char *format, ...)
{
    va_list args;
    int used = p->line ? snprintf(p->error, p->error_size, "%s:%zu: ", p->path,
                                  p->line)
                       : snprintf(p->error, p->error_size, "%s: ", p->path);

    if (used < 0 || (size_t)used >= p->error_size)
        return -1;
    va_start(args, format);
    vsnprintf(p->error + used, p->error_size - (size_t)used, format, args);
    va_end(args);
    return -1;
}

/* The whole file, NUL-terminated, or NULL. */
static char *read_text(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    size_t size = 0, capacity = 0;

    if (!file)
        return NULL;
    for (;;) {
        if (capacity - size < 4096) {
            char *grown = realloc(text, capacity + 65536);
            if (!grown)
                break;
            text = grown;
            capacity += 65536;
        }
        size_t got = fread(text + size, 1, capacity - size - 1, file);
        size += got;
        if (got == 0 && ferror(file))
            break;
        if (got == 0) {
            text[size] = '\0';
            fclose(file);
            return text;
        }
    }
    free(text);
    fclose(file);
    return NULL;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    return s;
}

static int at_word_end(const char *s)
{
    return *s == '\0' || *s == ' ' || *s == '\t' || *s == '\r';
}

/* Copies the word at *cursor into word[size] and moves past it. */
static int next_word(parser *p, const char **cursor, char *word, size_t size)
{
    const char *s = skip_blanks(*cursor);
    size_t length = 0;

    while (!at_word_end(s + length))
        length++;
    if (length == 0)
        return fail(p, "missing value");
    if (length >= size)
        return fail(p, "word too long");
    memcpy(word, s, length);
    word[length] = '\0';
    *cursor = s + length;
    return 0;
}

static int parse_double(parser *p, const char **cursor, double *value)
{
    const char *s = skip_blanks(*cursor);
    char *end;

    errno = 0;
    *value = strtod(s, &end);
    /* Underflow to a denormal or zero is fine; a number is a number. */
    if (end == s || !at_word_end(end))
        return fail(p, "bad number near '%.20s'", s);
    *cursor = end;
    return 0;
}

static int parse_int64(parser *p, const char **cursor, int64_t *value)
{
    const char *s = skip_blanks(*cursor);
    char *end;
    long long parsed;

    errno = 0;
    parsed = strtoll(s, &end, 10);
    if (end == s || !at_word_end(end) || errno == ERANGE)
        return fail(p, "bad integer near '%.20s'", s);
    *value = (int64_t)parsed;
    *cursor = end;
    return 0;
}

static int parse_size(parser *p, const char **cursor, size_t *value)
{
    int64_t parsed;

    if (parse_int64(p, cursor, &parsed))
        return -1;
    if (parsed < 0)
        return fail(p, "negative count");
    *value = (size_t)parsed;
    return 0;
}

static int expect_line_end(parser *p, const char *cursor)
{
    if (*skip_blanks(cursor) != '\0')
        return fail(p, "unexpected text '%.20s'", skip_blanks(cursor));
    return 0;
}

/* Enum names as the files spell them: the clxent name without prefix. */
static const char *const kind_names[] = { "CATEGORICAL",
                                          "SPARSE_CATEGORICAL",
                                          "CATEGORICAL_FOCAL",
                                          "SPARSE_CATEGORICAL_FOCAL",
                                          "BINARY",
                                          "BINARY_FOCAL" };
static const char *const reduction_names[] = { "NONE", "SUM", "MEAN",
                                               "WEIGHTED_MEAN" };

static int parse_name(parser *p, const char **cursor, const char *const *names,
                      int count, int *value)
{
    char word[64];

    if (next_word(p, cursor, word, sizeof word))
        return -1;
    for (int i = 0; i < count; i++) {
        if (strcmp(word, names[i]) == 0) {
            *value = i;
            return 0;
        }
    }
    return fail(p, "unknown name '%s'", word);
}

enum field_type { FIELD_INT, FIELD_UNSIGNED, FIELD_INT64, FIELD_FLOAT };

typedef struct setting_field {
    const char *key;
    enum field_type type;
    size_t offset;
} setting_field;

#define SETTING(key, type)                                                     \
    {                                                                          \
#key, type, offsetof(clxent_loss, key)                                 \
    }
static const setting_field setting_fields[] = {
    SETTING(from_logits, FIELD_INT),
    SETTING(epsilon, FIELD_FLOAT),
    SETTING(label_smoothing, FIELD_FLOAT),
    SETTING(use_ignore_class, FIELD_INT),
    SETTING(ignore_class, FIELD_INT64),
    SETTING(empty_mean_is_nan, FIELD_INT),
    SETTING(check_finite, FIELD_INT),
    SETTING(gamma, FIELD_FLOAT),
    SETTING(alpha, FIELD_FLOAT),
    SETTING(class_balancing, FIELD_INT),
    SETTING(z_loss, FIELD_FLOAT),
    SETTING(logit_cap, FIELD_FLOAT),
    SETTING(top_k, FIELD_UNSIGNED),
    SETTING(per_element, FIELD_INT),
    SETTING(hard_targets, FIELD_INT),
    SETTING(threshold, FIELD_FLOAT),
};
#undef SETTING

static int parse_setting(parser *p, const setting_field *field,
                         const char *cursor, clxent_loss *loss)
{
    void *target = (char *)loss + field->offset;
    double number;
    int64_t integer;

    if (field->type == FIELD_FLOAT) {
        if (parse_double(p, &cursor, &number))
            return -1;
        *(float *)target = (float)number;
        return expect_line_end(p, cursor);
    }
    if (parse_int64(p, &cursor, &integer))
        return -1;
    if (field->type == FIELD_INT64)
        *(int64_t *)target = integer;
    else if (field->type == FIELD_UNSIGNED && integer >= 0)
        *(unsigned *)target = (unsigned)integer;
    else if (field->type == FIELD_INT)
        *(int *)target = (int)integer;
    else
        return fail(p, "%s must not be negative", field->key);
    return expect_line_end(p, cursor);
}

typedef struct array_field {
    const char *key;
    size_t offset;
} array_field;

#define ARRAY(key, member)                                                     \
    {                                                                          \
        key, offsetof(golden_case, member)                                     \
    }
static const array_field array_fields[] = {
    ARRAY("predictions", predictions),
    ARRAY("targets", targets),
    ARRAY("class_weights", class_weights),
    ARRAY("class_alpha", class_alpha),
    ARRAY("sample_weights", sample_weights),
    ARRAY("element_weights", element_weights),
    ARRAY("pos_weight", pos_weight),
    ARRAY("loss", loss_values),
    ARRAY("gradient", gradient),
};
#undef ARRAY

static int parse_array(parser *p, const char *cursor, golden_array *array)
{
    size_t count = 0;

    if (array->values)
        return fail(p, "array given twice");
    if (parse_size(p, &cursor, &count))
        return -1;
    if (count == 0)
        return fail(p, "empty array");
    array->values = malloc(count * sizeof *array->values);
    if (!array->values)
        return fail(p, "out of memory");
    array->count = count;
    for (size_t i = 0; i < count; i++) {
        if (parse_double(p, &cursor, &array->values[i]))
            return -1;
    }
    return expect_line_end(p, cursor);
}

static int parse_labels(parser *p, const char *cursor, golden_case *golden)
{
    size_t count = 0;

    if (golden->labels)
        return fail(p, "labels given twice");
    if (parse_size(p, &cursor, &count))
        return -1;
    if (count == 0)
        return fail(p, "empty array");
    golden->labels = malloc(count * sizeof *golden->labels);
    if (!golden->labels)
        return fail(p, "out of memory");
    golden->label_count = count;
    for (size_t i = 0; i < count; i++) {
        if (parse_int64(p, &cursor, &golden->labels[i]))
            return -1;
    }
    return expect_line_end(p, cursor);
}

static int parse_text(parser *p, const char *cursor, char *text, size_t size)
{
    const char *s = skip_blanks(cursor);
    size_t length = strlen(s);

    while (length > 0 && (s[length - 1] == ' ' || s[length - 1] == '\r'))
        length--;
    if (length == 0 || length >= size)
        return fail(p, "missing or too long text");
    memcpy(text, s, length);
    text[length] = '\0';
    return 0;
}

static int parse_shape(parser *p, const char *cursor, clxent_shape *shape)
{
    if (parse_size(p, &cursor, &shape->rows) ||
        parse_size(p, &cursor, &shape->classes) ||
        parse_size(p, &cursor, &shape->spatial))
        return -1;
    return expect_line_end(p, cursor);
}

static int parse_label_dtype(parser *p, const char *cursor, golden_case *golden)
{
    static const char *const names[] = { "I32", "I64" };
    int index = 0;

    if (parse_name(p, &cursor, names, 2, &index))
        return -1;
    golden->label_dtype = index == 0 ? CLXENT_I32 : CLXENT_I64;
    return expect_line_end(p, cursor);
}

/* One `key value...` line other than `kind`, which was read first. */
static int parse_line(parser *p, const char *key, const char *rest,
                      golden_case *golden)
{
    size_t i;
    int index = 0;

    for (i = 0; i < sizeof setting_fields / sizeof *setting_fields; i++)
        if (strcmp(key, setting_fields[i].key) == 0)
            return parse_setting(p, &setting_fields[i], rest, &golden->loss);
    for (i = 0; i < sizeof array_fields / sizeof *array_fields; i++)
        if (strcmp(key, array_fields[i].key) == 0)
            return parse_array(
                p, rest, (void *)((char *)golden + array_fields[i].offset));
    if (strcmp(key, "labels") == 0)
        return parse_labels(p, rest, golden);
    if (strcmp(key, "shape") == 0)
        return parse_shape(p, rest, &golden->shape);
    if (strcmp(key, "label_dtype") == 0)
        return parse_label_dtype(p, rest, golden);
    if (strcmp(key, "case") == 0)
        return parse_text(p, rest, golden->name, sizeof golden->name);
    if (strcmp(key, "framework") == 0)
        return parse_text(p, rest, golden->framework, sizeof golden->framework);
    if (strcmp(key, "reduction") == 0) {
        if (parse_name(p, &rest, reduction_names, CLXENT_REDUCTION_COUNT,
                       &index))
            return -1;
        golden->loss.reduction = (clxent_reduction)index;
        return expect_line_end(p, rest);
    }
    if (strcmp(key, "kind") == 0)
        return 0;
    return fail(p, "unknown key '%s'", key);
}

/*
 * Calls visit() for every line that is not blank or a comment, with the
 * key split off. The text is cut into lines in place.
 */
static int for_each_line(parser *p, char *text, golden_case *golden,
                         int (*visit)(parser *, const char *, const char *,
                                      golden_case *))
{
    char *line = text;

    for (p->line = 1; line; p->line++) {
        char *newline = strchr(line, '\n');
        const char *cursor;
        char key[64];

        if (newline)
            *newline = '\0';
        cursor = skip_blanks(line);
        if (*cursor != '\0' && *cursor != '#') {
            if (next_word(p, &cursor, key, sizeof key) ||
                visit(p, key, cursor, golden))
                return -1;
        }
        if (newline)
            *newline = '\n';
        line = newline ? newline + 1 : NULL;
    }
    return 0;
}

/* The kind comes first, whatever its line, since it picks the defaults. */
static int find_kind(parser *p, const char *key, const char *rest,
                     golden_case *golden)
{
    int index = 0;

    if (strcmp(key, "kind") != 0)
        return 0;
    if (p->kind_seen)
        return fail(p, "kind given twice");
    if (parse_name(p, &rest, kind_names, CLXENT_LOSS_KIND_COUNT, &index))
        return -1;
    golden->loss.kind = (clxent_loss_kind)index;
    p->kind_seen = 1;
    return expect_line_end(p, rest);
}

static int is_sparse(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

static int is_sigmoid(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

size_t golden_loss_count(const golden_case *golden)
{
    const clxent_shape *shape = &golden->shape;
    size_t spatial = shape->spatial > 1 ? shape->spatial : 1;

    if (golden->loss.reduction != CLXENT_REDUCTION_NONE)
        return 1;
    if (!is_sigmoid(golden->loss.kind))
        return shape->rows * spatial;
    return golden->loss.per_element ? shape->rows * shape->classes
                                    : shape->rows;
}

static int check_count(parser *p, const char *name, const golden_array *array,
                       size_t want, int needed)
{
    if (array->count == 0 && !needed)
        return 0;
    if (array->count != want)
        return fail(p, "%s has %zu values, the shape needs %zu", name,
                    array->count, want);
    return 0;
}

/* The arrays must fit the shape and the kind. */
static int validate(parser *p, const golden_case *g)
{
    const size_t spatial = g->shape.spatial > 1 ? g->shape.spatial : 1;
    const size_t elements = g->shape.rows * g->shape.classes * spatial;
    const size_t loss_rows =
        is_sigmoid(g->loss.kind) ? g->shape.rows : g->shape.rows * spatial;

    p->line = 0;
    if (g->name[0] == '\0' || g->shape.rows == 0 || g->shape.classes == 0)
        return fail(p, "case name or shape missing");
    if (is_sparse(g->loss.kind) && g->label_count != loss_rows)
        return fail(p, "labels has %zu values, the shape needs %zu",
                    g->label_count, loss_rows);
    if (!is_sparse(g->loss.kind) && g->labels)
        return fail(p, "labels given for a dense kind");
    if (check_count(p, "predictions", &g->predictions, elements, 1) ||
        check_count(p, "targets", &g->targets, elements,
                    !is_sparse(g->loss.kind)) ||
        check_count(p, "class_weights", &g->class_weights, g->shape.classes,
                    0) ||
        check_count(p, "class_alpha", &g->class_alpha, g->shape.classes, 0) ||
        check_count(p, "sample_weights", &g->sample_weights, loss_rows, 0) ||
        check_count(p, "element_weights", &g->element_weights, elements, 0) ||
        check_count(p, "pos_weight", &g->pos_weight, g->shape.classes, 0) ||
        check_count(p, "loss", &g->loss_values, golden_loss_count(g), 1) ||
        check_count(p, "gradient", &g->gradient, elements, 0))
        return -1;
    return 0;
}

int golden_read(const char *path, golden_case *out, char *error,
                size_t error_size)
{
    parser p = { path, 0, error, error_size, 0 };
    char *text;
    int status;

    memset(out, 0, sizeof *out);
    out->label_dtype = CLXENT_I32;
    text = read_text(path);
    if (!text)
        return fail(&p, "cannot read the file");

    status = for_each_line(&p, text, out, find_kind);
    p.line = 0;
    if (status == 0 && !p.kind_seen)
        status = fail(&p, "no kind line");
    if (status == 0) {
        out->loss = clxent_loss_defaults(out->loss.kind);
        status = for_each_line(&p, text, out, parse_line);
    }
    if (status == 0)
        status = validate(&p, out);

    free(text);
    if (status != 0)
        golden_free(out);
    return status;
}

void golden_free(golden_case *golden)
{
    if (!golden)
        return;

    golden_array *arrays[] = {
        &golden->predictions, &golden->targets,        &golden->class_weights,
        &golden->class_alpha, &golden->sample_weights, &golden->element_weights,
        &golden->pos_weight,  &golden->loss_values,    &golden->gradient
    };
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) {
        free(arrays[i]->values);
        arrays[i]->values = NULL;
        arrays[i]->count = 0;
    }
    free(golden->labels);
    golden->labels = NULL;
    golden->label_count = 0;
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);

    return n > s && strcmp(name + n - s, suffix) == 0;
}

/* "directory/name" if it is a regular file, else NULL (errno 0). */
static char *regular_file(const char *directory, const char *name)
{
    size_t size = strlen(directory) + strlen(name) + 2;
    char *path = malloc(size);
    struct stat info;

    if (!path)
        return NULL;
    snprintf(path, size, "%s/%s", directory, name);
    if (stat(path, &info) == 0 && S_ISREG(info.st_mode))
        return path;
    free(path);
    errno = 0;
    return NULL;
}

int golden_list(const char *directory, const char *suffix, char ***paths,
                size_t *count)
{
    DIR *dir = opendir(directory);
    char **list = NULL;
    size_t used = 0, capacity = 0;
    struct dirent *entry;

    *paths = NULL;
    *count = 0;
    if (!dir)
        return -1;
    while ((entry = readdir(dir)) != NULL) {
        char *path;

        if (!has_suffix(entry->d_name, suffix))
            continue;
        if (used == capacity) {
            size_t grown = capacity ? 2 * capacity : 64;
            char **bigger = realloc(list, grown * sizeof *list);
            if (!bigger)
                goto failed;
            list = bigger;
            capacity = grown;
        }
        path = regular_file(directory, entry->d_name);
        if (path)
            list[used++] = path;
        else if (errno != 0)
            goto failed;
    }
    closedir(dir);
    qsort(list, used, sizeof *list, compare_paths);
    *paths = list;
    *count = used;
    return 0;

failed:
    closedir(dir);
    golden_free_list(list, used);
    return -1;
}

void golden_free_list(char **paths, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(paths[i]);
    free(paths);
}
