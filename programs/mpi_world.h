/* mpi_world.h: the command line's MPI ranks (programs/): started only when mpirun or srun launched
 * the process, so that the same binary runs alone as before; without MPI support one rank. */
#ifndef H5PREP_MPI_WORLD_H
#define H5PREP_MPI_WORLD_H

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

/* Every rank gives its exit code and a text (a JSON part, or its error message); rank 0 gets
 * them all in rank order (*rcs, *texts: malloc'd, each text too), the others NULLs. 0 on success. */
int mpi_world_gather(const mpi_world *w, int rc, const char *text, int **rcs, char ***texts);

/* rank 0's rc, on every rank. */
int mpi_world_share_rc(const mpi_world *w, int rc);

#endif
