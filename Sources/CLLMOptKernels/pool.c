// The thread pool behind Swift's `Parallel.forRanges`.
//
// Decoding one token of a small model hands out a few hundred parallel jobs of tens of
// microseconds each. Waking a sleeping thread for each (libdispatch, a futex per job) cost
// SmolLM2's Q8_0 decode about a sixth of its time. Here the workers spin on a shared state word
// for a while after each job and only then sleep on a condition variable, so a job that follows
// another within `spin_ns` starts in well under a microsecond.
//
// One run at a time: a run asked for while another is in progress (another thread, or a job
// that itself asks for one) runs on the calling thread alone. Tasks are claimed one at a time
// from the state word, which holds the run's generation in its high half, its task count and the
// next task in its low half: a worker late from an earlier run can never claim a task of a later
// one, nor read a later run's task count and claim a task its own run does not have (which would
// run the later run's job with a stray index and count it finished for the later run).
#include "kernels_internal.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/// How long an idle worker keeps polling before it sleeps.
static const int64_t spin_ns = 300 * 1000;

static struct {
    pthread_mutex_t run_lock;    // held by the thread that submits a run, for the whole run
    pthread_mutex_t sleep_lock;  // with `wake`: where idle workers sleep
    pthread_cond_t wake;
    _Atomic uint64_t state;      // generation << 32 | tasks << 16 | next task
    _Atomic int sleepers;
    _Atomic int finished;        // tasks of the current run completed
    _Atomic(llmopt_pool_task) task;
    _Atomic(void *) context;
    int workers;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static _Thread_local int inside_run;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t generation_of(uint64_t state) { return (uint32_t)(state >> 32); }
static int tasks_of(uint64_t state) { return (int)((state >> 16) & 0xFFFF); }
static int next_of(uint64_t state) { return (int)(state & 0xFFFF); }

/// Claims and runs tasks of run `generation` until none are left (or a later run has begun).
static void work(uint32_t generation) {
    llmopt_pool_task task = atomic_load_explicit(&pool.task, memory_order_relaxed);
    void *context = atomic_load_explicit(&pool.context, memory_order_relaxed);
    uint64_t s = atomic_load_explicit(&pool.state, memory_order_acquire);
    for (;;) {
        if (generation_of(s) != generation || next_of(s) >= tasks_of(s)) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.state, &s, s + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        task(context, next_of(s));
        atomic_fetch_add_explicit(&pool.finished, 1, memory_order_release);
        s = atomic_load_explicit(&pool.state, memory_order_acquire);
    }
}

static void *worker_main(void *unused) {
    (void)unused;
    inside_run = 1;  // a job that asks for a parallel run gets it inline
    uint32_t seen = generation_of(atomic_load(&pool.state));
    for (;;) {
        uint32_t g = seen;
        int64_t deadline = now_ns() + spin_ns;
        for (int i = 0; (g = generation_of(atomic_load_explicit(&pool.state, memory_order_acquire))) == seen; i++) {
            cpu_relax();
            if ((i & 255) == 255 && now_ns() > deadline) break;
        }
        if (g == seen) {
            pthread_mutex_lock(&pool.sleep_lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((g = generation_of(atomic_load(&pool.state))) == seen) pthread_cond_wait(&pool.wake, &pool.sleep_lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.sleep_lock);
        }
        seen = g;
        work(g);
    }
    return NULL;
}

static pthread_once_t started = PTHREAD_ONCE_INIT;
static int requested_threads = 1;

static void start_workers(void) {
    for (int i = 0; i < requested_threads - 1; i++) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 8u << 20);
        if (pthread_create(&thread, &attr, worker_main, NULL) == 0) pool.workers++;
        pthread_attr_destroy(&attr);
    }
}

int llmopt_pool_start(int threads) {
    requested_threads = threads < 1 ? 1 : threads;
    pthread_once(&started, start_workers);
    return pool.workers + 1;
}

void llmopt_pool_run(int tasks, llmopt_pool_task task, void *context) {
    if (tasks <= 0) return;
    if (tasks == 1 || tasks > 0xFFFF || pool.workers == 0 || inside_run || pthread_mutex_trylock(&pool.run_lock) != 0) {
        for (int i = 0; i < tasks; i++) task(context, i);
        return;
    }
    inside_run = 1;
    atomic_store_explicit(&pool.task, task, memory_order_relaxed);
    atomic_store_explicit(&pool.context, context, memory_order_relaxed);
    atomic_store_explicit(&pool.finished, 0, memory_order_relaxed);
    uint32_t generation = generation_of(atomic_load(&pool.state)) + 1;
    atomic_store(&pool.state, (uint64_t)generation << 32 | (uint64_t)tasks << 16);  // sequentially consistent: pairs with `sleepers`
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.sleep_lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
    }
    work(generation);
    // Tasks claimed by workers may still be running; a worker descheduled mid-task gets the core.
    for (int i = 0; atomic_load_explicit(&pool.finished, memory_order_acquire) < tasks; i++) {
        cpu_relax();
        if (i > 4096) sched_yield();
    }
    inside_run = 0;
    pthread_mutex_unlock(&pool.run_lock);
}
