#include <stdlib.h>
#include <string.h>
#include "mpi_shim.h"
#include <mpi.h>

int llmopt_mpi_launched(void) {
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return 1;
    }
    return 0;
}

static void finalize_at_exit(void) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Finalize();
}

int llmopt_mpi_init(int *rank, int *size) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) return rc;
    atexit(finalize_at_exit);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

void llmopt_mpi_error_string(int code, char *buffer, int length) {
    char text[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, text, &n) != MPI_SUCCESS) n = 0;
    text[n < MPI_MAX_ERROR_STRING ? n : MPI_MAX_ERROR_STRING - 1] = 0;
    if (length > 0) {
        strncpy(buffer, text, (size_t)length - 1);
        buffer[length - 1] = 0;
    }
}

int llmopt_mpi_alltoall_float(const float *send, float *receive, int count_per_rank) {
    return MPI_Alltoall(send, count_per_rank, MPI_FLOAT, receive, count_per_rank, MPI_FLOAT, MPI_COMM_WORLD);
}

int llmopt_mpi_allgather_float(const float *send, float *receive, int count) {
    return MPI_Allgather(send, count, MPI_FLOAT, receive, count, MPI_FLOAT, MPI_COMM_WORLD);
}

int llmopt_mpi_allgather_int64(const long long *send, long long *receive, int count) {
    return MPI_Allgather(send, count, MPI_LONG_LONG, receive, count, MPI_LONG_LONG, MPI_COMM_WORLD);
}

int llmopt_mpi_allgather_bytes(const void *send, void *receive, int count) {
    return MPI_Allgather(send, count, MPI_BYTE, receive, count, MPI_BYTE, MPI_COMM_WORLD);
}

int llmopt_mpi_allgatherv_double(const double *send, int count, double *receive, const int *counts, const int *offsets) {
    return MPI_Allgatherv(send, count, MPI_DOUBLE, receive, counts, offsets, MPI_DOUBLE, MPI_COMM_WORLD);
}

void llmopt_mpi_abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}
