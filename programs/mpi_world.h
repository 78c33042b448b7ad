/* mpi_world.h: the command line's MPI ranks (programs/): started only when mpirun or srun launched
 * the process, so that the same binary runs alone as before; without MPI support one rank. */
#ifndef H5PREP_MPI_WORLD_H
#define H5PREP_MPI_WORLD_H

#include <stddef.h>

typedef struct mpi_world {
    int rank, size;  /* 0 and 1 when alone */
    int local_rank;  /* rank among the ranks of this node (MPI_COMM_TYPE_SHARED): its GPU */
    int started;     /* MPI was initialised here (and is finalised by mpi_world_end) */
} mpi_world;

/* The ranks a launcher (mpirun, srun) started, from the environment alone; 0 when none did. */
int mpi_launched(void);

/* Starts MPI when launched (0), else fills one rank (0); nonzero when MPI was asked for by the
 * launcher but this build has no MPI support or MPI_Init failed (a message was printed). */
int mpi_world_start(mpi_world *w);
void mpi_world_end(mpi_world *w);

/* What rank 0 gathered: every rank's exit code and bytes, in rank order, in one block. */
typedef struct mpi_gathered {
    int *rcs;
    size_t *lens;
    unsigned char **data; /* (size,) pointers into block */
    void *block;
} mpi_gathered;

/* Every rank gives its exit code and len bytes (a packed part, or a text with its NUL); rank 0
 * gets them all in *g (mpi_gathered_free), the others zeros. Any sizes: the bytes travel in units
 * of a contiguous type large enough that no count passes INT_MAX. 0 on success; nonzero (on every
 * rank) when rank 0 is out of memory. */
int mpi_world_gather(const mpi_world *w, int rc, const void *data, size_t len, mpi_gathered *g);
void mpi_gathered_free(mpi_gathered *g);

/* Faults during a run. A rank that fails tells every other rank at once (mpi_world_tell); the
 * others look for it after each slab (mpi_world_peer_failed) and stop there. Every MPI call of
 * the program is made from its main thread (MPI_THREAD_FUNNELED): the library calls the progress
 * callback, which polls, from the thread that runs h5prep_stats_run. */
void mpi_world_watch(const mpi_world *w);   /* before the run: every rank listens */
/* Whether another rank has told its failure (its rank in *rank); tests once, never waits. */
int mpi_world_peer_failed(const mpi_world *w, int *rank);
void mpi_world_tell(const mpi_world *w, int rc); /* this rank failed with rc */
/* After the run, on every rank (collective): takes in the failures told and not yet seen, so
 * that no message is left in flight. */
void mpi_world_unwatch(const mpi_world *w);

/* rank 0's rc, on every rank. */
int mpi_world_share_rc(const mpi_world *w, int rc);

#endif
