/*
 * Per-device work shapes, in one table. A device gets the row of its
 * type, then limits from its own queries; names never decide.
 */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const work_shape cpu_shape = {
    /* A work-group runs on one CPU thread, so its lanes share a row only
     * in turn, one scalar value each; one row per work-item reads the row
     * as float16 vectors instead (cl/softmax.cl's vector row), 5 to 30
     * times faster. Groups take wide rows only when there are too few
     * rows to give every compute unit a work-group of items (see
     * choose_work_shape). */
    .row_lanes = 16,
    .min_wide_classes = 32,
    .items_group = 8,
    /* Many small groups let POCL's threads balance uneven rows. */
    .groups_per_unit = 256,
    .reduce_lanes = 64,
    .reduce_parts = 256,
    /* A row of a thousand floats spans pages, and the hardware
     * prefetcher stops at each page: sparse rows run 1.36x faster when
     * the arithmetic loops ask for the next row (README, performance
     * log 11). */
    .prefetch_rows = 1,
    /* Contiguous rows always go one per work-item as vectors, even
     * a few wide ones: 20x the groups' scalar lanes (performance log 16). */
    .vector_items = 1,
    /* Channels-first tensors, and rows of up to 32 classes (the kernel's
     * LANE_CACHE), sixteen rows an item, one a vector lane (cl/softmax.cl's
     * lane rows): 3-6x the vector rows at 10 classes, 1.3-3x at 32
     * (performance log 22). */
    .lane_classes = 32,
    /* Sigmoid flat blocks (cl/sigmoid.cl): 2 KiB of each array, checked
     * then summed from L1, each thread a contiguous share of rows. */
    .flat_outputs = 512,
};

static const work_shape gpu_shape = {
    .row_lanes = 256,
    .min_wide_classes = 128,
    /* Lanes of a group read neighbouring classes together: coalesced. */
    .min_item_rows = SIZE_MAX,
    .items_group = 256,
    .groups_per_unit = 32,
    .reduce_lanes = 256,
    .reduce_parts = 256,
    /* A batch of a few rows of a large vocabulary would leave most of
     * the GPU idle with one group a row: split each row until every
     * compute unit has 4 groups, while each lane keeps 16 classes. */
    .split_groups = 4,
    .split_classes = 16,
    /* A chunk a block, blocks to lanes in turn: coalesced reads. */
    .flat_outputs = 16,
    .flat_strided = 1,
};

static size_t floor_power_of_two(size_t value)
{
    size_t power = 1;
    while (power * 2 <= value)
        power *= 2;
    return power;
}

/*
 * CLXENT_WORK_SHAPE=gpu or cpu gives a device the other row of the
 * table: a developer's switch, so that the GPU's dispatch (wide rows on
 * work-groups of 256 lanes, item groups of 256) runs and is tested on
 * POCL's CPU devices (test setup gpushape).
 */
static int is_gpu_shape(const device_traits *traits)
{
    const char *forced = getenv("CLXENT_WORK_SHAPE");
    if (forced && strcmp(forced, "gpu") == 0)
        return 1;
    if (forced && strcmp(forced, "cpu") == 0)
        return 0;
    return traits->is_gpu;
}

void choose_work_shape(const device_traits *traits, work_shape *shape)
{
    const int gpu = is_gpu_shape(traits);
    *shape = gpu ? gpu_shape : cpu_shape;

    /* Group reductions need power-of-two groups that the device allows,
     * with room in local memory for 64 bytes a lane (the reductions' 5
     * arrays of 8 bytes, a softmax pass share of 48). */
    size_t limit = floor_power_of_two(traits->max_group_size);
    while (limit > 1 && limit * 64 > traits->local_memory)
        limit /= 2;
    if (shape->row_lanes > limit)
        shape->row_lanes = limit;
    if (shape->reduce_lanes > limit)
        shape->reduce_lanes = limit;
    if (shape->items_group > traits->max_group_size)
        shape->items_group = traits->max_group_size;
    if (!gpu)
        shape->min_item_rows = traits->compute_units * shape->items_group;
}
