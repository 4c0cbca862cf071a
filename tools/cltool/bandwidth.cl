/*
 * cltool's memory bandwidth probe: a copy and a read of float4 elements.
 */

kernel void copy_float4(global const float4 *restrict source,
                        global float4 *restrict destination)
{
    const size_t i = get_global_id(0);
    destination[i] = source[i];
}

#define READS_PER_ITEM 16

/*
 * Each work-item sums READS_PER_ITEM elements, one from each slice of the
 * buffer, so that neighbouring work-items read neighbouring elements (the
 * pattern GPUs coalesce and CPU compilers vectorise). The sum is stored
 * only when it equals `impossible`, which the host picks out of reach of
 * the data: the loads cannot be dropped, and no write traffic is added.
 */
kernel void read_float4(global const float4 *restrict source,
                        float impossible, global float *restrict sink)
{
    const size_t items = get_global_size(0);
    float4 sum = (float4)(0.0f);
    for (int j = 0; j < READS_PER_ITEM; j++)
        sum += source[get_global_id(0) + j * items];
    const float total = sum.x + sum.y + sum.z + sum.w;
    if (total == impossible)
        sink[0] = total;
}

/*
 * The same two probes on contiguous blocks of BLOCK elements a work-item:
 * the pattern a CPU's prefetchers stream best (the kernels above give a
 * CPU thread many streams at once). The host keeps the faster pattern.
 */
#define BLOCK 64

kernel void copy_blocks(global const float4 *restrict source,
                        global float4 *restrict destination)
{
    const size_t first = get_global_id(0) * BLOCK;
    for (int j = 0; j < BLOCK; j++)
        destination[first + j] = source[first + j];
}

kernel void read_blocks(global const float4 *restrict source,
                        float impossible, global float *restrict sink)
{
    const size_t first = get_global_id(0) * BLOCK;
    float4 sum = (float4)(0.0f);
    for (int j = 0; j < BLOCK; j++)
        sum += source[first + j];
    const float total = sum.x + sum.y + sum.z + sum.w;
    if (total == impossible)
        sink[0] = total;
}
