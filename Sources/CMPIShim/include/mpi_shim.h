#ifndef LLMOPT_MPI_SHIM_H
#define LLMOPT_MPI_SHIM_H

/// A small C layer over Open MPI: MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, ...) are macros
/// over library globals that do not import into Swift. Every call works on MPI_COMM_WORLD and
/// returns MPI_SUCCESS (0) or an MPI error code (errors return instead of aborting).

/// 1 when the environment shows that mpirun (Open MPI's launcher, or a PMIx one) started this
/// process; 0 otherwise, and then nothing here must be called.
int llmopt_mpi_launched(void);

/// MPI_Init_thread (serialized calls from any thread); MPI_Finalize is registered to run at
/// exit. Fills rank and size.
int llmopt_mpi_init(int *rank, int *size);

/// The message of an MPI error code.
void llmopt_mpi_error_string(int code, char *buffer, int length);

int llmopt_mpi_alltoall_float(const float *send, float *receive, int count_per_rank);
int llmopt_mpi_allgather_float(const float *send, float *receive, int count);
int llmopt_mpi_allgather_int64(const long long *send, long long *receive, int count);
int llmopt_mpi_allgather_bytes(const void *send, void *receive, int count);
int llmopt_mpi_allgatherv_double(const double *send, int count, double *receive, const int *counts, const int *offsets);

/// Ends every process of the job with `code` (MPI_Abort); does not return.
void llmopt_mpi_abort(int code);

#endif
