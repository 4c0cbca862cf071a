/*
 * Per-device work shapes, in one table. A device gets the row of its
 * type, then limits from its own queries; names never decide.
 */
#include "internal.h"

static const work_shape cpu_shape = {
    /* 16 lanes stride over a row: POCL turns the lanes into one vector
     * of contiguous loads. */
    .row_lanes = 16,
    .min_wide_classes = 32,
    .items_group = 64,
    /* Many small groups let POCL's threads balance uneven rows. */
    .groups_per_unit = 256,
    .reduce_lanes = 64,
    .reduce_parts = 256,
};

static const work_shape gpu_shape = {
    .row_lanes = 256,
    .min_wide_classes = 128,
    .items_group = 256,
    .groups_per_unit = 32,
    .reduce_lanes = 256,
    .reduce_parts = 256,
};

static size_t floor_power_of_two(size_t value)
{
    size_t power = 1;
    while (power * 2 <= value)
        power *= 2;
    return power;
}

void choose_work_shape(const device_traits *traits, work_shape *shape)
{
    *shape = traits->is_gpu ? gpu_shape : cpu_shape;

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
}
