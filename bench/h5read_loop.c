/* h5read_loop.c: the reading limit for bench/: a plain loop of H5Dread over slabs of rows into
 * one reused buffer, in the stored type. Prints "bytes seconds GB/s" on one line. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_h5read FILE DATASET [SLAB_MIB (16)]\n");
        return 2;
    }
    double slab_mib = argc > 3 ? atof(argv[3]) : 16.0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, argv[2], H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "bench_h5read: cannot open %s:%s\n", argv[1], argv[2]);
        return 1;
    }
    hid_t ftype = H5Dget_type(d), mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    hid_t fs = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(fs);
    hsize_t dims[H5S_MAX_RANK], start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    H5Sget_simple_extent_dims(fs, dims, NULL);
    size_t row = H5Tget_size(mtype);
    for (int a = 1; a < rank; a++)
        row *= dims[a];
    hsize_t rows = (hsize_t)(slab_mib * 1048576.0 / (double)row);
    if (rows == 0)
        rows = 1;
    void *buf = malloc(rows * row);
    double t0 = now();
    size_t bytes = 0;
    for (hsize_t r = 0; r < dims[0]; r += rows) {
        for (int a = 0; a < rank; a++)
            count[a] = dims[a];
        start[0] = r;
        count[0] = dims[0] - r < rows ? dims[0] - r : rows;
        hid_t ms = H5Screate_simple(rank, count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        if (H5Dread(d, mtype, ms, fs, H5P_DEFAULT, buf) < 0) {
            fprintf(stderr, "bench_h5read: H5Dread failed at row %llu\n", (unsigned long long)r);
            return 1;
        }
        H5Sclose(ms);
        bytes += count[0] * row;
    }
    double dt = now() - t0;
    printf("%zu %.6f %.3f\n", bytes, dt, (double)bytes / dt / 1e9);
    free(buf);
    H5Sclose(fs);
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Dclose(d);
    H5Fclose(f);
    return 0;
}
