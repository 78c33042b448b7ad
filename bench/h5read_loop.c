/* h5read_loop.c: the limits for the benchmarks: a plain loop of H5Dread into one reused buffer
 * (one big dataset, or whole datasets of many files), a memcpy of the same bytes, and a loop of
 * large write calls (bench/bench_transform.py: the rate this machine writes a transform's bytes).
 * Every mode prints "bytes seconds GB/s" on one line; the clock covers the loop only. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB 1048576.0

static const char usage[] =
    "usage: bench_h5read FILE DATASET [SLAB_MIB (16)]\n"
    "         H5Dread of DATASET in slabs of rows (whole chunks), in its stored type, into one\n"
    "         reused buffer\n"
    "       bench_h5read --files LIST DATASET...\n"
    "         for each path in the text file LIST (one a line): open it, H5Dread each DATASET\n"
    "         whole into one reused buffer, close it; the clock covers opening and closing\n"
    "       bench_h5read --open LIST DATASET...\n"
    "         as --files without reading: H5Fopen, H5Dopen, H5Dget_space, close (prints bytes 0)\n"
    "       bench_h5read --memcpy BYTES [SLAB_MIB (16)]\n"
    "         memcpy of BYTES in slabs between two reused SLAB_MIB buffers, touched beforehand\n"
    "       bench_h5read --write PATH BYTES [SLAB_MIB (8)]\n"
    "         write(2) of BYTES in SLAB_MIB calls into the new file PATH (refused if it exists),\n"
    "         then close; no fsync, as h5prep's outputs; the clock covers open to close\n"
    "       bench_h5read --version\n"
    "         the version of the HDF5 library it runs with\n";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void report(size_t bytes, double seconds)
{
    printf("%zu %.6f %.3f\n", bytes, seconds, seconds > 0 ? (double)bytes / seconds / 1e9 : 0.0);
}

static int read_slabs(const char *path, const char *name, double slab_mib)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "bench_h5read: cannot open %s:%s\n", path, name);
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
    hsize_t rows = (hsize_t)(slab_mib * MIB / (double)row);
    if (rows == 0)
        rows = 1;
    hid_t dcpl = H5Dget_create_plist(d); /* chunked: whole chunks per slab, each decoded once */
    hsize_t chunk[H5S_MAX_RANK];
    if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, rank, chunk) == rank)
        rows = rows < chunk[0] ? chunk[0] : rows / chunk[0] * chunk[0];
    H5Pclose(dcpl);
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
    report(bytes, now() - t0);
    free(buf);
    H5Sclose(fs);
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Dclose(d);
    H5Fclose(f);
    return 0;
}

/* Opens one dataset of an open file and, unless buf is NULL, reads it whole into *buf (grown
 * to *cap as needed). Returns the bytes read, or -1 on error. */
static long long read_whole(hid_t f, const char *path, const char *name, void **buf, size_t *cap)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "bench_h5read: cannot open %s:%s\n", path, name);
        return -1;
    }
    hid_t ftype = H5Dget_type(d), mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    hid_t fs = H5Dget_space(d);
    size_t n = (size_t)H5Sget_simple_extent_npoints(fs) * H5Tget_size(mtype);
    long long done = 0;
    if (buf) {
        if (n > *cap) {
            free(*buf);
            *cap = n;
            *buf = malloc(n);
        }
        done = H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *buf) < 0 ? -1 : (long long)n;
        if (done < 0)
            fprintf(stderr, "bench_h5read: H5Dread failed on %s:%s\n", path, name);
    }
    H5Sclose(fs);
    H5Tclose(mtype);
    H5Tclose(ftype);
    H5Dclose(d);
    return done;
}

static int read_files(const char *list, char **names, int n_names, int read)
{
    FILE *fl = fopen(list, "r");
    if (!fl) {
        fprintf(stderr, "bench_h5read: cannot open the file list %s\n", list);
        return 1;
    }
    char path[4096];
    void *buf = NULL;
    size_t cap = 0, bytes = 0;
    double t0 = now();
    while (fgets(path, sizeof path, fl)) {
        path[strcspn(path, "\n")] = '\0';
        if (!path[0])
            continue;
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) {
            fprintf(stderr, "bench_h5read: cannot open %s\n", path);
            return 1;
        }
        for (int i = 0; i < n_names; i++) {
            long long done = read_whole(f, path, names[i], read ? &buf : NULL, &cap);
            if (done < 0)
                return 1;
            bytes += (size_t)done;
        }
        H5Fclose(f);
    }
    report(bytes, now() - t0);
    fclose(fl);
    free(buf);
    return 0;
}

static int write_loop(const char *path, double total, double slab_mib)
{
    size_t bytes = (size_t)total, slab = (size_t)(slab_mib * MIB);
    if (slab == 0)
        slab = 1;
    unsigned char *buf = malloc(slab);
    if (!buf) {
        fprintf(stderr, "bench_h5read: cannot allocate %zu bytes\n", slab);
        return 1;
    }
    for (size_t i = 0; i < slab; i++) /* not zeros: no file system may skip them */
        buf[i] = (unsigned char)(i * 2654435761u >> 24);
    double t0 = now();
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
    if (fd < 0) {
        fprintf(stderr, "bench_h5read: cannot create %s: %s\n", path, strerror(errno));
        free(buf);
        return 1;
    }
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < slab ? bytes - done : slab;
        ssize_t w = write(fd, buf, n);
        if (w <= 0) {
            fprintf(stderr, "bench_h5read: writing %s: %s\n", path, w < 0 ? strerror(errno) : "no progress");
            close(fd);
            free(buf);
            return 1;
        }
        done += (size_t)w;
    }
    int e = close(fd);
    double t = now() - t0;
    free(buf);
    if (e != 0) {
        fprintf(stderr, "bench_h5read: closing %s: %s\n", path, strerror(errno));
        return 1;
    }
    report(bytes, t);
    return 0;
}

static int copy_slabs(double total, double slab_mib)
{
    size_t bytes = (size_t)total, slab = (size_t)(slab_mib * MIB);
    if (slab == 0)
        slab = 1;
    char *src = malloc(slab), *dst = malloc(slab);
    if (!src || !dst) {
        fprintf(stderr, "bench_h5read: cannot allocate two buffers of %zu bytes\n", slab);
        return 1;
    }
    memset(src, 1, slab);
    memset(dst, 2, slab);
    double t0 = now();
    for (size_t done = 0; done < bytes; done += slab) {
        size_t n = bytes - done < slab ? bytes - done : slab;
        memcpy(dst, src, n);
        __asm__ volatile("" : : "r"(dst) : "memory"); /* keep the copy */
    }
    report(bytes, now() - t0);
    free(src);
    free(dst);
    return 0;
}

int main(int argc, char **argv)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        unsigned major, minor, release;
        H5get_libversion(&major, &minor, &release);
        printf("HDF5 %u.%u.%u\n", major, minor, release);
        return 0;
    }
    if (argc >= 4 && (!strcmp(argv[1], "--files") || !strcmp(argv[1], "--open")))
        return read_files(argv[2], argv + 3, argc - 3, !strcmp(argv[1], "--files"));
    if (argc >= 4 && !strcmp(argv[1], "--write"))
        return write_loop(argv[2], atof(argv[3]), argc > 4 ? atof(argv[4]) : 8.0);
    if (argc >= 3 && !strcmp(argv[1], "--memcpy"))
        return copy_slabs(atof(argv[2]), argc > 3 ? atof(argv[3]) : 16.0);
    if (argc >= 3 && argv[1][0] != '-')
        return read_slabs(argv[1], argv[2], argc > 3 ? atof(argv[3]) : 16.0);
    fputs(usage, stderr);
    return 2;
}
