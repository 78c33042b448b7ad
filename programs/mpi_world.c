/* mpi_world.c: the command line's MPI ranks (programs/mpi_world.h): start, gather of every rank's
 * result to rank 0, and one exit code for all; one rank when the build or the launch has no MPI. */
#include "mpi_world.h"

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
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        fprintf(stderr, "h5prep: MPI_Init failed\n");
        return 1;
    }
    w->started = 1;
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

int mpi_world_gather(const mpi_world *w, int rc, const char *text, int **rcs, char ***texts)
{
    *rcs = NULL;
    *texts = NULL;
    int n = w->size, mine[2] = {rc, (int)strlen(text) + 1};
    int *head = w->rank == 0 ? malloc(2 * (size_t)n * sizeof *head) : NULL;
    if (w->rank == 0 && !head)
        return 1;
#ifdef H5PREP_HAVE_MPI
    if (w->started)
        MPI_Gather(mine, 2, MPI_INT, head, 2, MPI_INT, 0, MPI_COMM_WORLD);
    else
#endif
        memcpy(head, mine, sizeof mine);
    int *counts = NULL, *displs = NULL;
    char *all = NULL;
    if (w->rank == 0) {
        counts = malloc((size_t)n * sizeof *counts);
        displs = malloc((size_t)n * sizeof *displs);
        size_t total = 0;
        for (int r = 0; counts && displs && r < n; r++) {
            counts[r] = head[2 * r + 1];
            displs[r] = (int)total;
            total += (size_t)counts[r];
        }
        all = counts && displs && total < (size_t)1 << 31 ? malloc(total) : NULL;
    }
    /* every rank takes part in the collective even where rank 0 is out of memory: none hangs */
#ifdef H5PREP_HAVE_MPI
    if (w->started)
        MPI_Gatherv(text, mine[1], MPI_CHAR, all, counts, displs, MPI_CHAR, 0, MPI_COMM_WORLD);
    else
#endif
        if (all)
            memcpy(all, text, (size_t)mine[1]);
    int bad = 0;
    if (w->rank == 0) {
        bad = !all;
        *rcs = malloc((size_t)n * sizeof **rcs);
        *texts = calloc((size_t)n, sizeof **texts);
        bad |= !*rcs || !*texts;
        for (int r = 0; !bad && r < n; r++) {
            (*rcs)[r] = head[2 * r];
            (*texts)[r] = malloc((size_t)counts[r]);
            bad |= !(*texts)[r];
            if (!bad)
                memcpy((*texts)[r], all + displs[r], (size_t)counts[r]);
        }
    }
    free(head);
    free(counts);
    free(displs);
    free(all);
    return bad;
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
