/* mpi_world.c: the command line's MPI ranks (programs/mpi_world.h): start, gather of every rank's
 * result to rank 0, faults told between ranks during a run, and one exit code for all; one rank
 * when the build or the launch has no MPI. */
#include "mpi_world.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef H5PREP_HAVE_MPI
#include <mpi.h>
#endif

int mpi_launched(void)
{
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (!n)
        n = getenv("PMI_SIZE");
    if (!n)
        n = getenv("SLURM_NTASKS");
    return n && atoi(n) > 0 ? atoi(n) : 0;
}

int mpi_world_start(mpi_world *w)
{
    memset(w, 0, sizeof *w);
    w->size = 1;
    if (!mpi_launched())
        return 0;
#ifdef H5PREP_HAVE_MPI
    /* the reader and compute threads make no MPI call: only the main thread does */
    int provided = MPI_THREAD_SINGLE;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "h5prep: MPI_Init_thread failed\n");
        return 1;
    }
    w->started = 1;
    if (provided < MPI_THREAD_FUNNELED) {
        fprintf(stderr, "h5prep: this MPI library gives thread level %d, but h5prep's threads need MPI_THREAD_FUNNELED (%d)\n"
                        "hint: use an MPI built with thread support (Debian's Open MPI is)\n", provided, MPI_THREAD_FUNNELED);
        mpi_world_end(w);
        return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &w->local_rank);
    MPI_Comm_free(&node);
    return 0;
#else
    if (mpi_launched() > 1) {
        fprintf(stderr, "h5prep: started by an MPI launcher with %d ranks, but this build has no MPI support (MPI was not found when it was built)\n"
                        "hint: install libopenmpi-dev (scripts/install-deps.sh) and build again, or run without mpirun\n", mpi_launched());
        return 1;
    }
    return 0;
#endif
}

void mpi_world_end(mpi_world *w)
{
#ifdef H5PREP_HAVE_MPI
    if (w->started)
        MPI_Finalize();
#endif
    w->started = 0;
}

void mpi_gathered_free(mpi_gathered *g)
{
    free(g->rcs);
    free(g->lens);
    free(g->data);
    free(g->block);
    memset(g, 0, sizeof *g);
}

int mpi_world_gather(const mpi_world *w, int rc, const void *data, size_t len, mpi_gathered *g)
{
    memset(g, 0, sizeof *g);
    int n = w->size;
    int64_t mine[2] = {rc, (int64_t)len};
    int64_t *head = malloc(2 * (size_t)n * sizeof *head); /* every rank needs the sizes for the unit */
    if (!head) {
        fprintf(stderr, "h5prep: rank %d of %d: out of memory\n", w->rank, n);
#ifdef H5PREP_HAVE_MPI
        if (w->started)
            MPI_Abort(MPI_COMM_WORLD, 13); /* the others wait in the collective: end them all */
#endif
        return 1;
    }
#ifdef H5PREP_HAVE_MPI
    if (w->started)
        MPI_Allgather(mine, 2, MPI_INT64_T, head, 2, MPI_INT64_T, MPI_COMM_WORLD);
    else
#endif
        memcpy(head, mine, sizeof mine);
    /* the unit: the smallest power of two that keeps the total count of units within an int */
    uint64_t unit = 1, units = 0;
    for (;;) {
        units = 0;
        for (int r = 0; r < n; r++)
            units += ((uint64_t)head[2 * r + 1] + unit - 1) / unit;
        if (units <= INT_MAX)
            break;
        unit *= 2;
    }
    int ok = 1;
    int *counts = NULL, *displs = NULL;
    if (w->rank == 0) {
        g->rcs = malloc((size_t)n * sizeof *g->rcs);
        g->lens = malloc((size_t)n * sizeof *g->lens);
        g->data = malloc((size_t)n * sizeof *g->data);
        g->block = malloc(units > 0 ? units * unit : 1);
        counts = malloc((size_t)n * sizeof *counts);
        displs = malloc((size_t)n * sizeof *displs);
        ok = g->rcs && g->lens && g->data && g->block && counts && displs;
        for (int r = 0, at = 0; ok && r < n; r++) {
            g->rcs[r] = (int)head[2 * r];
            g->lens[r] = (size_t)head[2 * r + 1];
            counts[r] = (int)((g->lens[r] + unit - 1) / unit);
            displs[r] = at;
            g->data[r] = (unsigned char *)g->block + (size_t)at * unit;
            at += counts[r];
        }
    }
    /* a rank pads its bytes to whole units; one without memory for that sends nothing, and says so */
    unsigned char *padded = len % unit ? calloc(1, (len / unit + 1) * unit) : NULL;
    if (padded)
        memcpy(padded, data, len);
    int ok_all = ok && (len % unit == 0 || padded);
#ifdef H5PREP_HAVE_MPI
    if (w->started) {
        /* no rank enters the gather unless every rank can take part: none hangs, none writes to NULL */
        int mine_ok = ok_all;
        MPI_Allreduce(&mine_ok, &ok_all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        if (ok_all) {
            MPI_Datatype t;
            MPI_Type_contiguous((int)unit, MPI_BYTE, &t);
            MPI_Type_commit(&t);
            MPI_Gatherv(padded ? padded : data, (int)((len + unit - 1) / unit), t, g->block, counts, displs, t, 0,
                        MPI_COMM_WORLD);
            MPI_Type_free(&t);
        }
    } else
#endif
        if (ok_all && len)
            memcpy(g->block, data, len);
    free(padded);
    free(head);
    free(counts);
    free(displs);
    if (!ok_all)
        mpi_gathered_free(g);
    return !ok_all;
}

#ifdef H5PREP_HAVE_MPI
/* The faults of a run: each rank listens for one message (a failing rank's exit code) on a
 * communicator of its own, so that nothing else can match it. */
enum { TAG_FAULT = 7 };
static struct {
    int watching;         /* between mpi_world_watch and mpi_world_unwatch */
    MPI_Comm comm;
    MPI_Request recv;
    int told_rc;          /* the receive's buffer: the teller's exit code (the gather brings it to rank 0) */
    int peer;             /* the rank that told it, -1 while none did */
    MPI_Request *sends;   /* (size - 1) when this rank told its own failure */
    int rc;               /* what it sent */
} g_watch = {.peer = -1};
#endif

void mpi_world_watch(const mpi_world *w)
{
#ifdef H5PREP_HAVE_MPI
    if (!w->started || w->size < 2)
        return;
    MPI_Comm_dup(MPI_COMM_WORLD, &g_watch.comm);
    MPI_Irecv(&g_watch.told_rc, 1, MPI_INT, MPI_ANY_SOURCE, TAG_FAULT, g_watch.comm, &g_watch.recv);
    g_watch.watching = 1;
#else
    (void)w;
#endif
}

int mpi_world_peer_failed(const mpi_world *w, int *rank)
{
#ifdef H5PREP_HAVE_MPI
    (void)w;
    if (g_watch.watching && g_watch.peer < 0) {
        int flag = 0;
        MPI_Status status;
        MPI_Test(&g_watch.recv, &flag, &status);
        if (flag)
            g_watch.peer = status.MPI_SOURCE;
    }
    *rank = g_watch.peer;
    return g_watch.peer >= 0;
#else
    (void)w;
    *rank = -1;
    return 0;
#endif
}

void mpi_world_tell(const mpi_world *w, int rc)
{
#ifdef H5PREP_HAVE_MPI
    if (!g_watch.watching || g_watch.sends)
        return;
    g_watch.rc = rc;
    g_watch.sends = malloc((size_t)(w->size - 1) * sizeof *g_watch.sends);
    for (int r = 0, k = 0; g_watch.sends && r < w->size; r++)
        if (r != w->rank)
            MPI_Isend(&g_watch.rc, 1, MPI_INT, r, TAG_FAULT, g_watch.comm, &g_watch.sends[k++]);
    /* without memory for the requests the others stop at the gather instead, as before */
#else
    (void)w, (void)rc;
#endif
}

void mpi_world_unwatch(const mpi_world *w)
{
#ifdef H5PREP_HAVE_MPI
    if (!g_watch.watching)
        return;
    /* every rank has ended its run here, so every failure told is in flight: each rank takes in
     * those sent to it (one per other rank that told), then its own sends complete */
    int told = g_watch.sends != NULL, tellers = 0;
    MPI_Allreduce(&told, &tellers, 1, MPI_INT, MPI_SUM, g_watch.comm);
    int expect = tellers - told;
    if (expect == 0) {
        MPI_Cancel(&g_watch.recv);
        MPI_Wait(&g_watch.recv, MPI_STATUS_IGNORE);
    } else {
        MPI_Wait(&g_watch.recv, MPI_STATUS_IGNORE); /* at once when polled before */
        for (int i = 1; i < expect; i++) {
            int rc;
            MPI_Recv(&rc, 1, MPI_INT, MPI_ANY_SOURCE, TAG_FAULT, g_watch.comm, MPI_STATUS_IGNORE);
        }
    }
    if (g_watch.sends)
        MPI_Waitall(w->size - 1, g_watch.sends, MPI_STATUSES_IGNORE);
    free(g_watch.sends);
    g_watch.sends = NULL;
    MPI_Comm_free(&g_watch.comm);
    g_watch.watching = 0;
#else
    (void)w;
#endif
}

int mpi_world_share_rc(const mpi_world *w, int rc)
{
#ifdef H5PREP_HAVE_MPI
    if (w->started)
        MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
#else
    (void)w;
#endif
    return rc;
}
