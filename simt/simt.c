/* simt.c: the SIMT harness behind simt.h: CUDA threads as pooled OS threads stepping through one
 * block at a time, streams as per-stream queues of operations, memory as registered host allocations. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_attr_setaffinity_np, sched_getcpu */
#endif

#include "simt.h"

#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    WARP = 32,
    MAX_BLOCK = 1024,
    /* Dynamic shared memory a launch may ask for: a GPU gives more (227 KiB on H100) only after
     * cudaFuncSetAttribute, which the subset does not have. */
    SHMEM_LIMIT = 48 * 1024,
    SHMEM_OPTIN = 227 * 1024,
    SM_COUNT = 4, /* multiProcessorCount: grids sized by SM count stay small */
    /* A host loop polling cudaEventQuery must end even in deferred mode: after this many
     * cudaErrorNotReady answers for one record, the query runs the work. */
    POLLS_BEFORE_RUN = 64,
    WORKER_STACK = 512 * 1024, /* a CUDA thread's locals live in registers: kernels need little */
    MSG = 1024
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fputs("simt: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* splitmix64: the block orders and thread orders are drawn from it, keyed by the seed. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9u;
    x = (x ^ x >> 27) * 0x94d049bb133111ebu;
    return x ^ x >> 31;
}

/* a[0..n) = a Fisher-Yates permutation of 0..n-1 drawn from key. */
static void permutation(unsigned *a, unsigned n, uint64_t key)
{
    for (unsigned i = 0; i < n; i++)
        a[i] = i;
    for (unsigned i = n; i > 1; i--) {
        key = mix(key);
        unsigned j = (unsigned)(key % i), t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* ======================================== Harness errors ======================================== */

static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static int err_count;
static char err_last[MSG];

__attribute__((format(printf, 1, 2))) static void harness_error(const char *fmt, ...)
{
    char msg[MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&err_mu);
    err_count++;
    memcpy(err_last, msg, sizeof msg);
    pthread_mutex_unlock(&err_mu);
    fprintf(stderr, "simt: %s\n", msg);
}

int simt_error_count(void)
{
    pthread_mutex_lock(&err_mu);
    int n = err_count;
    pthread_mutex_unlock(&err_mu);
    return n;
}

const char *simt_last_error(void)
{
    static _Thread_local char copy[MSG];
    pthread_mutex_lock(&err_mu);
    memcpy(copy, err_last, sizeof copy);
    pthread_mutex_unlock(&err_mu);
    return copy;
}

/* ========================================= Device side ==========================================
 * One block runs at a time on workers 0..dim-1 of a persistent pool. Every change of a thread's
 * state happens under B.mu, and a thread runs only after its `go` semaphore was posted:
 *
 *   READY --go--> RUNNING --__syncthreads--> BARRIER --all arrived--> READY
 *                         --shuffle-------> SHFL ----its group complete--> READY
 *                         --return--------> EXITED
 *
 * parallel: READY threads get `go` at once. serial: one token; when its holder leaves RUNNING,
 * the next READY thread in this phase's order gets it. A new order is drawn after each barrier.
 * If no thread can run and not all have exited, the block would hang on a GPU: the harness
 * reports the shuffle that cannot complete, marks the block broken (sync points stop blocking,
 * shuffles return the caller's value) and lets it run out.
 *
 * A woken thread does not take B.mu again before it runs: it starts its next stretch of kernel
 * code knowing (for ThreadSanitizer's happens-before) only what the thread that woke it knew,
 * which after a barrier is exactly the previous phase. Taking B.mu there would order it after
 * whatever other threads had already done in the new phase, and hide their races. */

/* For ThreadSanitizer, kernel code must be ordered exactly as on a GPU: everything before a
 * barrier before everything after it, and the block's launch before all of it; nothing else.
 * HB_RELEASE/HB_ACQUIRE state those edges whoever wakes whom. A shuffle or __activemask orders no
 * memory on a GPU, but its trip through B.mu would order the caller after every thread that took
 * B.mu before: the harness hides that trip (its synchronisation and its accesses to the harness's
 * own state) between UNORDERED_BEGIN and UNORDERED_END. */
#if defined(__SANITIZE_THREAD__)
#define SIMT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SIMT_TSAN 1
#endif
#endif
#ifdef SIMT_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define UNORDERED_BEGIN()                                                                          \
    (AnnotateIgnoreSyncBegin(__FILE__, __LINE__), AnnotateIgnoreReadsBegin(__FILE__, __LINE__),    \
     AnnotateIgnoreWritesBegin(__FILE__, __LINE__))
#define UNORDERED_END()                                                                            \
    (AnnotateIgnoreWritesEnd(__FILE__, __LINE__), AnnotateIgnoreReadsEnd(__FILE__, __LINE__),      \
     AnnotateIgnoreSyncEnd(__FILE__, __LINE__))
#define HB_RELEASE(sync) __tsan_release(sync)
#define HB_ACQUIRE(sync) __tsan_acquire(sync)
#else
#define UNORDERED_BEGIN() ((void)0)
#define UNORDERED_END() ((void)0)
#define HB_RELEASE(sync) ((void)(sync))
#define HB_ACQUIRE(sync) ((void)(sync))
#endif

enum tstate { T_READY, T_RUNNING, T_BARRIER, T_SHFL, T_EXITED };

struct launch {
    const char *name;
    int grid, block;
    size_t shmem;
    void (*entry)(const void *);
    void *args;      /* the launch's copy of the argument struct */
    uint64_t number; /* launches enqueued since the mode was set: keys the orders drawn */
};

struct worker {
    sem_t go; /* posted once each time the thread may run */
    enum tstate state;
    unsigned index;   /* threadIdx.x */
    const char *file; /* where it waits */
    int line;
    int shfl_kind;
    unsigned shfl_mask, shfl_arg;
    uint64_t shfl_value, shfl_result;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t done_cv; /* the launcher waits on it for the block's end */
    unsigned n_workers;     /* started so far (touched only by the launcher) */
    struct worker w[MAX_BLOCK];
    unsigned order[MAX_BLOCK]; /* serial: this phase's run order */
    unsigned cursor;           /* serial: where in order[] the search for the next thread starts */
    /* Threads to wake once B.mu is released: one woken while B.mu is held may run at once (the
     * pool shares a core) only to block on B.mu, which costs two more thread switches. */
    struct worker *wake[MAX_BLOCK];
    unsigned n_wake;
    /* the block being run */
    const struct launch *launch;
    unsigned block, dim;
    void *smem;
    uint64_t seed, launch_no, phase;
    bool serial, token;
    unsigned n_active, n_exited, n_barrier; /* READY or RUNNING; EXITED; BARRIER */
    const char *bar_file;                   /* the barrier the BARRIER threads wait at */
    int bar_line;
    bool broken, failed, done;
    char start_sync, phase_sync[2]; /* addresses naming HB_RELEASE/HB_ACQUIRE edges */
} B = {.mu = PTHREAD_MUTEX_INITIALIZER, .done_cv = PTHREAD_COND_INITIALIZER};

_Thread_local simt_uint3 simt_tls_thread_idx, simt_tls_block_idx, simt_tls_block_dim, simt_tls_grid_dim;
static _Thread_local struct worker *tls_worker;
static _Thread_local void *tls_smem;

static struct worker *self(const char *what)
{
    if (!tls_worker) {
        fprintf(stderr, "simt: %s called outside a kernel\n", what);
        abort();
    }
    return tls_worker;
}

static const char *shfl_name(int kind) { return kind == SIMT_SHFL_DOWN ? "__shfl_down_sync" : "__shfl_xor_sync"; }

static bool same_site(const char *file_a, int line_a, const char *file_b, int line_b)
{
    return line_a == line_b && (file_a == file_b || strcmp(file_a, file_b) == 0);
}

static bool same_shuffle(const struct worker *a, const struct worker *b)
{
    return a->shfl_kind == b->shfl_kind && a->shfl_mask == b->shfl_mask &&
           same_site(a->file, a->line, b->file, b->line);
}

/* The lanes that exist in the warp starting at thread `base` (the block's last warp may be
 * partial). */
static unsigned warp_lanes(unsigned base)
{
    unsigned width = B.dim - base < WARP ? B.dim - base : WARP;
    return width == WARP ? 0xffffffffu : (1u << width) - 1;
}

/* "0-15,17,20-23" */
static void lanes_text(unsigned mask, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned lane = 0; lane < WARP && len < cap; lane++) {
        if (!(mask >> lane & 1u))
            continue;
        unsigned end = lane;
        while (end + 1 < WARP && mask >> (end + 1) & 1u)
            end++;
        int k = end > lane ? snprintf(buf + len, cap - len, "%s%u-%u", len ? "," : "", lane, end)
                           : snprintf(buf + len, cap - len, "%s%u", len ? "," : "", lane);
        len += k > 0 ? (size_t)k : 0;
        lane = end;
    }
}

__attribute__((format(printf, 1, 2))) static void kernel_error(const char *fmt, ...)
{
    char msg[MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    B.failed = true;
    harness_error("kernel '%s' block %u: %s", B.launch->name, B.block, msg);
}

static void make_ready(struct worker *w)
{
    B.n_active++;
    if (B.serial) {
        w->state = T_READY;
        return;
    }
    w->state = T_RUNNING;
    B.wake[B.n_wake++] = w;
}

static void leave_running(void)
{
    B.n_active--;
    B.token = false; /* serial: only the token holder runs */
}

static void wait_go(struct worker *w)
{
    while (sem_wait(&w->go) != 0) /* EINTR */
        continue;
}

/* Releases B.mu, then wakes the threads made runnable under it. */
static void unlock_block(void)
{
    struct worker *wake[MAX_BLOCK];
    unsigned n = B.n_wake;
    memcpy(wake, B.wake, n * sizeof *wake);
    B.n_wake = 0;
    pthread_mutex_unlock(&B.mu);
    for (unsigned i = 0; i < n; i++)
        sem_post(&wake[i]->go);
}

/* Leaves B.mu and sleeps until the thread may run again. */
static void park(struct worker *w)
{
    unlock_block();
    wait_go(w);
}

/* Serial: the token goes to the next READY thread in this phase's order, after the last one. */
static void pass_token(void)
{
    for (unsigned i = 0; i < B.dim; i++) {
        unsigned k = (B.cursor + i) % B.dim;
        struct worker *w = &B.w[B.order[k]];
        if (w->state == T_READY) {
            w->state = T_RUNNING;
            B.token = true;
            B.cursor = k + 1;
            B.wake[B.n_wake++] = w;
            return;
        }
    }
}

static void new_phase(void)
{
    if (B.serial)
        permutation(B.order, B.dim, B.seed ^ mix(B.launch_no ^ mix(B.block ^ mix(B.phase))));
    B.cursor = 0;
    B.phase++;
}

/* After an error: every waiting thread is released and no sync point blocks any more. */
static void break_block(void)
{
    B.broken = true;
    for (unsigned i = 0; i < B.dim; i++) {
        struct worker *w = &B.w[i];
        if (w->state == T_BARRIER || w->state == T_SHFL) {
            w->shfl_result = w->shfl_value;
            make_ready(w);
        }
    }
    B.n_barrier = 0;
}

static void complete_barrier(void)
{
    if (B.n_exited > 0) {
        unsigned first = 0;
        while (B.w[first].state != T_EXITED)
            first++;
        kernel_error("__syncthreads() at %s:%d was reached by %u threads while %u had returned from the "
                     "kernel (thread %u first); a thread that returns early must not skip a barrier "
                     "that the others reach",
                     B.bar_file, B.bar_line, B.n_barrier, B.n_exited, first);
        break_block();
        return;
    }
    for (unsigned i = 0; i < B.dim; i++)
        if (B.w[i].state == T_BARRIER)
            make_ready(&B.w[i]);
    B.n_barrier = 0;
    new_phase();
}

/* Completes the shuffle that w waits at if every lane it needs has arrived at the same one. */
static void try_shuffle(const struct worker *w)
{
    unsigned base = w->index / WARP * WARP, need = w->shfl_mask & warp_lanes(base);
    for (unsigned lane = 0; lane < WARP; lane++) {
        const struct worker *u = &B.w[base + lane];
        if (need >> lane & 1u && !(u->state == T_SHFL && same_shuffle(u, w)))
            return;
    }
    for (unsigned lane = 0; lane < WARP; lane++) {
        struct worker *u = &B.w[base + lane];
        if (!(need >> lane & 1u))
            continue;
        uint64_t src = u->shfl_kind == SIMT_SHFL_DOWN ? (uint64_t)lane + u->shfl_arg : (uint64_t)(lane ^ u->shfl_arg);
        u->shfl_result = src < WARP && need >> src & 1u ? B.w[base + src].shfl_value : u->shfl_value;
    }
    for (unsigned lane = 0; lane < WARP; lane++)
        if (need >> lane & 1u)
            make_ready(&B.w[base + lane]);
}

/* No thread can run, not all have exited, and the barrier is not complete: some shuffle waits for
 * a lane that is elsewhere. Names the first such shuffle, its lanes, and where a missing one is. */
static void report_hang(void)
{
    const struct worker *w = B.w;
    while (w->state != T_SHFL)
        w++;
    unsigned base = w->index / WARP * WARP, need = w->shfl_mask & warp_lanes(base), arrived = 0;
    for (unsigned lane = 0; lane < WARP; lane++) {
        const struct worker *u = &B.w[base + lane];
        if (need >> lane & 1u && u->state == T_SHFL && same_shuffle(u, w))
            arrived |= 1u << lane;
    }
    unsigned missing = need & ~arrived, m = (unsigned)__builtin_ctz(missing);
    const struct worker *u = &B.w[base + m];
    char where[MSG], have[160], lack[160];
    if (u->state == T_EXITED)
        snprintf(where, sizeof where, "returned from the kernel");
    else if (u->state == T_BARRIER)
        snprintf(where, sizeof where, "waits at __syncthreads() at %s:%d", u->file, u->line);
    else
        snprintf(where, sizeof where, "waits at %s(mask 0x%08x) at %s:%d", shfl_name(u->shfl_kind), u->shfl_mask,
                 u->file, u->line);
    lanes_text(arrived, have, sizeof have);
    lanes_text(missing, lack, sizeof lack);
    kernel_error("warp %u: %s(mask 0x%08x) at %s:%d can never complete: lanes %s arrived, lanes %s did not "
                 "(lane %u %s)",
                 base / WARP, shfl_name(w->shfl_kind), w->shfl_mask, w->file, w->line, have, lack, m, where);
    break_block();
}

/* Called under B.mu after a thread left RUNNING. */
static void block_step(void)
{
    if (B.n_barrier > 0 && B.n_barrier + B.n_exited == B.dim)
        complete_barrier();
    if (B.n_exited == B.dim) {
        B.done = true;
        pthread_cond_signal(&B.done_cv);
        return;
    }
    if (B.n_active == 0)
        report_hang();
    if (B.serial && !B.token)
        pass_token();
}

void simt_syncthreads(const char *file, int line)
{
    struct worker *w = self("__syncthreads()");
    pthread_mutex_lock(&B.mu);
    if (!B.broken && B.n_barrier > 0 && !same_site(B.bar_file, B.bar_line, file, line)) {
        kernel_error("thread %u reached __syncthreads() at %s:%d while others wait at %s:%d (a barrier in "
                     "divergent code?)",
                     w->index, file, line, B.bar_file, B.bar_line);
        break_block();
    }
    if (B.broken) {
        unlock_block();
        return;
    }
    if (B.n_barrier++ == 0) {
        B.bar_file = file;
        B.bar_line = line;
    }
    w->state = T_BARRIER;
    w->file = file;
    w->line = line;
    char *sync = &B.phase_sync[B.phase % 2]; /* the next barrier uses the other one */
    HB_RELEASE(sync);
    leave_running();
    block_step();
    park(w);
    HB_ACQUIRE(sync);
}

uint64_t simt_shfl(int kind, unsigned mask, uint64_t bits, unsigned arg, const char *file, int line)
{
    struct worker *w = self(shfl_name(kind));
    unsigned lane = w->index % WARP;
    uint64_t result = bits;
    UNORDERED_BEGIN();
    pthread_mutex_lock(&B.mu);
    if (!B.broken && !(mask >> lane & 1u)) {
        kernel_error("warp %u lane %u: %s(mask 0x%08x) at %s:%d: the calling lane is not in the mask", w->index / WARP,
                     lane, shfl_name(kind), mask, file, line);
        break_block();
    }
    if (B.broken) {
        unlock_block();
        UNORDERED_END();
        return result;
    }
    w->state = T_SHFL;
    w->file = file;
    w->line = line;
    w->shfl_kind = kind;
    w->shfl_mask = mask;
    w->shfl_arg = arg;
    w->shfl_value = bits;
    leave_running();
    try_shuffle(w);
    block_step();
    park(w);
    result = w->shfl_result; /* written by the lane that completed the group, before it woke us */
    UNORDERED_END();
    return result;
}

unsigned simt_activemask(void)
{
    struct worker *w = self("__activemask()");
    unsigned base = w->index / WARP * WARP;
    UNORDERED_BEGIN();
    pthread_mutex_lock(&B.mu);
    unsigned mask = warp_lanes(base);
    for (unsigned lane = 0; lane < WARP; lane++)
        if (mask >> lane & 1u && B.w[base + lane].state == T_EXITED)
            mask &= ~(1u << lane);
    pthread_mutex_unlock(&B.mu);
    UNORDERED_END();
    return mask;
}

void *simt_shared_mem(void)
{
    self("simt_shared_mem()");
    return tls_smem;
}

/* A worker lives as long as the process, parked between blocks. */
_Noreturn static void *worker_main(void *arg)
{
    struct worker *w = arg;
    tls_worker = w;
    for (;;) {
        wait_go(w); /* a block starts */
        HB_ACQUIRE(&B.start_sync);
        const struct launch *l = B.launch;
        simt_tls_thread_idx = (simt_uint3){w->index, 0, 0};
        simt_tls_block_idx = (simt_uint3){B.block, 0, 0};
        simt_tls_block_dim = (simt_uint3){B.dim, 1, 1};
        simt_tls_grid_dim = (simt_uint3){(unsigned)l->grid, 1, 1};
        tls_smem = B.smem;
        l->entry(l->args);
        pthread_mutex_lock(&B.mu);
        w->state = T_EXITED;
        B.n_exited++;
        leave_running();
        block_step();
        unlock_block();
    }
}

/* Starts workers up to n; called by the launching host thread only. All workers share one CPU,
 * the launcher's when the pool starts: handing the run from thread to thread costs 1-2 us on one
 * core but up to tens of us across cores on a VM (the CLI on a real file ran 4-6x faster pinned).
 * ThreadSanitizer needs no real parallelism, only the happens-before edges. */
static void pool_reserve(unsigned n)
{
    static cpu_set_t cpu;
    if (B.n_workers == 0) {
        int here = sched_getcpu();
        CPU_ZERO(&cpu);
        CPU_SET(here >= 0 ? here : 0, &cpu);
    }
    while (B.n_workers < n) {
        struct worker *w = &B.w[B.n_workers];
        w->index = B.n_workers;
        sem_init(&w->go, 0, 0);
        pthread_attr_t attr;
        pthread_t tid;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, WORKER_STACK);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setaffinity_np(&attr, sizeof cpu, &cpu);
        int rc = pthread_create(&tid, &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            fprintf(stderr, "simt: cannot start the thread for CUDA thread %u: %s\n", w->index, strerror(rc));
            abort();
        }
        B.n_workers++;
    }
}

/* Runs one block to its end; returns whether the harness found it broken. */
static bool run_block(const struct launch *l, unsigned block, void *smem, simt_mode mode)
{
    pthread_mutex_lock(&B.mu);
    B.launch = l;
    B.block = block;
    B.dim = (unsigned)l->block;
    B.smem = smem;
    B.seed = mode.seed;
    B.launch_no = l->number;
    B.phase = 0;
    B.serial = mode.schedule == SIMT_SCHEDULE_SERIAL;
    B.n_active = B.n_exited = B.n_barrier = 0;
    B.token = B.broken = B.failed = B.done = false;
    new_phase();
    HB_RELEASE(&B.start_sync);
    for (unsigned i = 0; i < B.dim; i++)
        make_ready(&B.w[i]);
    if (B.serial)
        pass_token();
    unlock_block();
    pthread_mutex_lock(&B.mu);
    while (!B.done)
        pthread_cond_wait(&B.done_cv, &B.mu);
    bool failed = B.failed;
    pthread_mutex_unlock(&B.mu);
    return failed;
}

/* Runs a launch block after block (like a GPU, the first broken block ends it); returns whether
 * it failed. */
static bool run_launch(const struct launch *l, simt_mode mode)
{
    unsigned grid = (unsigned)l->grid, *order = NULL;
    if (mode.blocks == SIMT_BLOCKS_SHUFFLED) {
        order = xcalloc(grid, sizeof *order);
        permutation(order, grid, mix(mode.seed ^ mix(l->number)));
    }
    void *smem = l->shmem ? xcalloc(1, l->shmem) : NULL;
    pool_reserve((unsigned)l->block);
    bool failed = false;
    for (unsigned k = 0; k < grid && !failed; k++) {
        if (smem)
            memset(smem, 0xFF, l->shmem); /* fresh per block: a read before a write shows */
        failed = run_block(l, order ? order[k] : k, smem, mode);
    }
    free(smem);
    free(order);
    return failed;
}

/* ========================================== Host side ===========================================
 * All host state lives in H under H.mu, which is also held while deferred work runs: the harness
 * is a device that does one thing at a time. Lock order: H.mu, then B.mu, then err_mu. */

struct alloc {
    char *base;
    size_t size;
    bool pinned; /* cudaHostAlloc (host memory) rather than cudaMalloc */
};

enum op_kind { OP_KERNEL, OP_COPY, OP_MEMSET, OP_RECORD, OP_WAIT };

struct op {
    enum op_kind kind;
    uint64_t seq; /* global enqueue order */
    struct op *next;
    union {
        struct launch kernel;
        struct {
            void *dst;
            const void *src;
            size_t n;
            bool dst_host;
            bool check_src; /* deferred async copy from host memory: sum must still match */
            uint64_t sum;
        } copy;
        struct {
            void *dst;
            int value;
            size_t n;
        } set;
        struct {
            uint64_t stream, seq; /* run that stream up to that operation first */
        } wait;
    } u;
};

struct CUstream_st {
    uint64_t id; /* 0: the legacy default stream */
    unsigned flags;
    struct op *head, *tail; /* deferred operations not yet run, in order */
    struct CUstream_st *next;
};

struct CUevent_st {
    unsigned flags;
    bool recorded;
    uint64_t stream, seq; /* complete once that stream has run operation seq */
    int polls;            /* cudaErrorNotReady answers since the record */
    struct CUevent_st *next;
};

static struct {
    pthread_mutex_t mu;
    simt_mode mode;
    bool no_device; /* SIMT_DEVICES=0 */
    bool failed;    /* sticky, like a CUDA context after a launch failure */
    struct alloc *allocs;
    size_t n_allocs, cap_allocs;
    struct CUstream_st legacy;
    struct CUstream_st *streams;
    struct CUevent_st *events;
    uint64_t seq, stream_ids;
    uint64_t launches; /* since the mode was set */
} H = {.mu = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t H_once = PTHREAD_ONCE_INIT;
static _Thread_local cudaError_t tls_last_error;

/* Index of `value` in the two choices (the enums' order), or the default when unset. */
static int env_choice(const char *var, const char *first, const char *second, int dflt)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return dflt;
    if (strcmp(v, first) == 0)
        return 0;
    if (strcmp(v, second) == 0)
        return 1;
    fprintf(stderr, "simt: %s=%s: expected %s or %s\n", var, v, first, second);
    exit(2);
}

static void init_from_env(void)
{
    H.mode.streams = (simt_streams)env_choice("SIMT_STREAMS", "eager", "deferred", SIMT_STREAMS_DEFERRED);
    H.mode.blocks = (simt_blocks)env_choice("SIMT_BLOCKS", "sequential", "shuffled", SIMT_BLOCKS_SHUFFLED);
    H.mode.schedule = (simt_schedule)env_choice("SIMT_SCHEDULE", "serial", "parallel", SIMT_SCHEDULE_SERIAL);
    H.no_device = env_choice("SIMT_DEVICES", "0", "1", 1) == 0;
    H.mode.seed = 1;
    const char *seed = getenv("SIMT_SEED");
    if (seed && *seed) {
        char *end;
        H.mode.seed = strtoull(seed, &end, 0);
        if (*end) {
            fprintf(stderr, "simt: SIMT_SEED=%s: expected an unsigned integer\n", seed);
            exit(2);
        }
    }
}

static void host_lock(void)
{
    if (tls_worker) {
        fputs("simt: CUDA runtime call from inside a kernel\n", stderr);
        abort();
    }
    pthread_once(&H_once, init_from_env);
    pthread_mutex_lock(&H.mu);
}

static void host_unlock(void) { pthread_mutex_unlock(&H.mu); }

/* What a call returns: like the runtime, a failure also becomes this thread's last error. */
static cudaError_t status(cudaError_t err)
{
    if (err)
        tls_last_error = err;
    return err;
}

/* ---- Registry of cudaMalloc and cudaHostAlloc allocations ---- */

static struct alloc *alloc_holding(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; i < H.n_allocs; i++) {
        struct alloc *r = &H.allocs[i];
        if (a >= (uintptr_t)r->base && a - (uintptr_t)r->base < r->size)
            return r;
    }
    return NULL;
}

static struct alloc *device_alloc_overlapping(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; i < H.n_allocs; i++) {
        struct alloc *r = &H.allocs[i];
        if (!r->pinned && a < (uintptr_t)r->base + r->size && (uintptr_t)r->base < a + n)
            return r;
    }
    return NULL;
}

static cudaError_t allocate(void **out, size_t size, bool pinned)
{
    if (!out)
        return status(cudaErrorInvalidValue);
    *out = NULL;
    if (size == 0)
        return cudaSuccess;
    void *p;
    if (posix_memalign(&p, 256, size) != 0)
        return status(cudaErrorMemoryAllocation);
    memset(p, 0xFF, size); /* a read before any write shows as NaN or garbage */
    host_lock();
    if (H.n_allocs == H.cap_allocs) {
        size_t cap = H.cap_allocs ? 2 * H.cap_allocs : 64;
        struct alloc *grown = realloc(H.allocs, cap * sizeof *grown);
        if (!grown) {
            host_unlock();
            free(p);
            return status(cudaErrorMemoryAllocation);
        }
        H.allocs = grown;
        H.cap_allocs = cap;
    }
    H.allocs[H.n_allocs++] = (struct alloc){p, size, pinned};
    host_unlock();
    *out = p;
    return cudaSuccess;
}

static void run_all(void);

/* cudaFree and cudaFreeHost synchronize the device first, as on a GPU. */
static cudaError_t release(const char *api, void *p, bool pinned)
{
    if (!p)
        return cudaSuccess;
    host_lock();
    run_all();
    struct alloc *a = alloc_holding(p);
    if (!a || a->base != (char *)p || a->pinned != pinned) {
        if (!a)
            harness_error("%s(%p): not an allocation (never allocated, or freed already)", api, p);
        else if (a->pinned != pinned)
            harness_error("%s(%p): this is %s; free it with %s", api, p,
                          a->pinned ? "pinned host memory" : "device memory", a->pinned ? "cudaFreeHost" : "cudaFree");
        else
            harness_error("%s(%p): points %zu bytes into the allocation %p", api, p, (size_t)((char *)p - a->base),
                          (void *)a->base);
        host_unlock();
        return status(cudaErrorInvalidValue);
    }
    *a = H.allocs[--H.n_allocs];
    host_unlock();
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **devPtr, size_t size) { return allocate(devPtr, size, false); }
cudaError_t cudaFree(void *devPtr) { return release("cudaFree", devPtr, false); }
cudaError_t cudaMallocHost(void **ptr, size_t size) { return allocate(ptr, size, true); }
cudaError_t cudaFreeHost(void *ptr) { return release("cudaFreeHost", ptr, true); }

cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags)
{
    if (flags & ~(unsigned)(cudaHostAllocPortable | cudaHostAllocMapped | cudaHostAllocWriteCombined))
        return status(cudaErrorInvalidValue);
    return allocate(pHost, size, true);
}

/* ---- Streams, events and the deferred queues ---- */

static struct CUstream_st *stream_by_id(uint64_t id)
{
    if (id == 0)
        return &H.legacy;
    for (struct CUstream_st *s = H.streams; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL; /* destroyed, after running all its work */
}

/* The live stream behind a handle (NULL: the legacy default stream), or NULL after reporting. */
static struct CUstream_st *stream_checked(const char *api, cudaStream_t stream)
{
    if (!stream)
        return &H.legacy;
    for (struct CUstream_st *s = H.streams; s; s = s->next)
        if (s == stream)
            return s;
    harness_error("%s: stream %p is not a live stream (destroyed, or never created)", api, (void *)stream);
    return NULL;
}

static struct CUevent_st *event_checked(const char *api, cudaEvent_t event)
{
    for (struct CUevent_st *e = H.events; e; e = e->next)
        if (e == event)
            return e;
    harness_error("%s: event %p is not a live event (destroyed, or never created)", api, (void *)event);
    return NULL;
}

static struct op *op_new(enum op_kind kind)
{
    struct op *op = xcalloc(1, sizeof *op);
    op->kind = kind;
    return op;
}

static void op_free(struct op *op)
{
    if (op->kind == OP_KERNEL)
        free(op->u.kernel.args);
    free(op);
}

static void append(struct CUstream_st *s, struct op *op)
{
    op->seq = ++H.seq;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
}

/* 64-bit FNV-style sum, 8 bytes a step; each step is a bijection of the running sum, so changing
 * any single 8-byte word always changes the result. */
static uint64_t checksum(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325u ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, b + i, 8);
        h = (h ^ v) * 0x100000001b3u;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3u;
    return h;
}

static void rebase_stream(struct CUstream_st *s, uintptr_t a, size_t n)
{
    for (struct op *op = s->head; op; op = op->next)
        if (op->kind == OP_COPY && op->u.copy.check_src && a < (uintptr_t)op->u.copy.src + op->u.copy.n &&
            (uintptr_t)op->u.copy.src < a + n)
            op->u.copy.sum = checksum(op->u.copy.src, op->u.copy.n);
}

/* A copy that ran wrote host memory [p, p+n): pending copies reading it were ordered after it,
 * so they expect the new bytes. */
static void rebase_sums(const void *p, size_t n)
{
    rebase_stream(&H.legacy, (uintptr_t)p, n);
    for (struct CUstream_st *s = H.streams; s; s = s->next)
        rebase_stream(s, (uintptr_t)p, n);
}

static void run_until(struct CUstream_st *s, uint64_t seq);

static void op_run(struct op *op)
{
    if (op->kind == OP_WAIT) {
        struct CUstream_st *t = stream_by_id(op->u.wait.stream);
        if (t)
            run_until(t, op->u.wait.seq);
        return;
    }
    if (H.failed) /* a failed context runs nothing more */
        return;
    switch (op->kind) {
    case OP_KERNEL:
        if (run_launch(&op->u.kernel, H.mode))
            H.failed = true;
        break;
    case OP_COPY:
        if (op->u.copy.check_src && checksum(op->u.copy.src, op->u.copy.n) != op->u.copy.sum) {
            harness_error("host buffer %p modified between cudaMemcpyAsync and its execution (reused before its "
                          "event completed?); the copy of %zu bytes to %p fails the stream",
                          op->u.copy.src, op->u.copy.n, op->u.copy.dst);
            H.failed = true;
        }
        memcpy(op->u.copy.dst, op->u.copy.src, op->u.copy.n);
        if (op->u.copy.dst_host)
            rebase_sums(op->u.copy.dst, op->u.copy.n);
        break;
    case OP_MEMSET:
        memset(op->u.set.dst, op->u.set.value, op->u.set.n);
        break;
    default: /* OP_RECORD only marks a point in the stream */
        break;
    }
}

/* Runs the stream's pending operations up to and including seq; waits inside run other streams
 * first, always on older operations, so the recursion ends. */
static void run_until(struct CUstream_st *s, uint64_t seq)
{
    while (s->head && s->head->seq <= seq) {
        struct op *op = s->head;
        s->head = op->next;
        if (!s->head)
            s->tail = NULL;
        op_run(op);
        op_free(op);
    }
}

static void run_all(void)
{
    run_until(&H.legacy, UINT64_MAX);
    for (struct CUstream_st *s = H.streams; s; s = s->next)
        run_until(s, UINT64_MAX);
}

static void append_wait(struct CUstream_st *s, const struct CUstream_st *on)
{
    struct op *w = op_new(OP_WAIT);
    w->u.wait.stream = on->id;
    w->u.wait.seq = on->tail->seq;
    append(s, w);
}

/* Enqueues (deferred) or runs (eager) one operation; the legacy default stream waits for all
 * blocking streams, and they wait for it. */
static cudaError_t submit(struct CUstream_st *s, struct op *op)
{
    if (H.failed) {
        op_free(op);
        return status(cudaErrorLaunchFailure);
    }
    if (H.mode.streams == SIMT_STREAMS_EAGER) {
        op->seq = ++H.seq;
        op_run(op);
        op_free(op);
        return cudaSuccess;
    }
    if (s == &H.legacy) {
        for (struct CUstream_st *t = H.streams; t; t = t->next)
            if (!(t->flags & cudaStreamNonBlocking) && t->tail)
                append_wait(s, t);
    } else if (!(s->flags & cudaStreamNonBlocking) && H.legacy.tail) {
        append_wait(s, &H.legacy);
    }
    if (op->kind == OP_COPY && op->u.copy.check_src)
        op->u.copy.sum = checksum(op->u.copy.src, op->u.copy.n);
    append(s, op);
    return cudaSuccess;
}

static bool event_pending(const struct CUevent_st *e)
{
    const struct CUstream_st *s = e->recorded ? stream_by_id(e->stream) : NULL;
    return s && s->head && s->head->seq <= e->seq;
}

static cudaError_t sync_status(void) { return H.failed ? cudaErrorLaunchFailure : cudaSuccess; }

simt_mode simt_get_mode(void)
{
    host_lock();
    simt_mode m = H.mode;
    host_unlock();
    return m;
}

void simt_set_mode(simt_mode mode)
{
    host_lock();
    run_all();
    H.mode = mode;
    H.launches = 0;
    host_unlock();
}

void simt_reset_errors(void)
{
    host_lock();
    H.failed = false;
    host_unlock();
    pthread_mutex_lock(&err_mu);
    err_count = 0;
    err_last[0] = '\0';
    pthread_mutex_unlock(&err_mu);
    tls_last_error = cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *pStream) { return cudaStreamCreateWithFlags(pStream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags)
{
    if (!pStream || flags & ~(unsigned)cudaStreamNonBlocking)
        return status(cudaErrorInvalidValue);
    struct CUstream_st *s = xcalloc(1, sizeof *s);
    host_lock();
    s->id = ++H.stream_ids;
    s->flags = flags;
    s->next = H.streams;
    H.streams = s;
    host_unlock();
    *pStream = s;
    return cudaSuccess;
}

/* Runs the stream's remaining work (it would still run on a GPU), then forgets it. */
cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    host_lock();
    struct CUstream_st *s = stream ? stream_checked("cudaStreamDestroy", stream) : NULL;
    if (!s) {
        host_unlock();
        return status(cudaErrorInvalidResourceHandle);
    }
    run_until(s, UINT64_MAX);
    struct CUstream_st **link = &H.streams;
    while (*link != s)
        link = &(*link)->next;
    *link = s->next;
    host_unlock();
    free(s);
    return cudaSuccess;
}

/* On the legacy stream this waits for its own work only (and, through the waits enqueued with it,
 * for blocking streams' work that came before). */
cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    host_lock();
    struct CUstream_st *s = stream_checked("cudaStreamSynchronize", stream);
    cudaError_t err = cudaErrorInvalidResourceHandle;
    if (s) {
        run_until(s, UINT64_MAX);
        err = sync_status();
    }
    host_unlock();
    return status(err);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags)
{
    if (flags != 0)
        return status(cudaErrorInvalidValue);
    host_lock();
    struct CUstream_st *s = stream_checked("cudaStreamWaitEvent", stream);
    struct CUevent_st *e = s ? event_checked("cudaStreamWaitEvent", event) : NULL;
    cudaError_t err = cudaErrorInvalidResourceHandle;
    if (e) {
        err = cudaSuccess;
        if (event_pending(e)) {
            struct op *w = op_new(OP_WAIT);
            w->u.wait.stream = e->stream;
            w->u.wait.seq = e->seq;
            err = submit(s, w);
        }
    }
    host_unlock();
    return status(err);
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)
{
    if (!event || flags & ~(unsigned)(cudaEventBlockingSync | cudaEventDisableTiming))
        return status(cudaErrorInvalidValue);
    struct CUevent_st *e = xcalloc(1, sizeof *e);
    e->flags = flags;
    host_lock();
    e->next = H.events;
    H.events = e;
    host_unlock();
    *event = e;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    host_lock();
    struct CUevent_st *e = event_checked("cudaEventRecord", event);
    struct CUstream_st *s = e ? stream_checked("cudaEventRecord", stream) : NULL;
    cudaError_t err = cudaErrorInvalidResourceHandle;
    if (s) {
        err = submit(s, op_new(OP_RECORD));
        if (!err) {
            e->recorded = true;
            e->stream = s->id;
            e->seq = H.seq;
            e->polls = 0;
        }
    }
    host_unlock();
    return status(err);
}

cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    host_lock();
    struct CUevent_st *e = event_checked("cudaEventSynchronize", event);
    cudaError_t err = cudaErrorInvalidResourceHandle;
    if (e) {
        if (event_pending(e))
            run_until(stream_by_id(e->stream), e->seq);
        err = sync_status();
    }
    host_unlock();
    return status(err);
}

/* cudaErrorNotReady is an answer, not an error: it does not become the last error. */
cudaError_t cudaEventQuery(cudaEvent_t event)
{
    host_lock();
    struct CUevent_st *e = event_checked("cudaEventQuery", event);
    cudaError_t err = cudaErrorInvalidResourceHandle;
    if (e) {
        err = sync_status();
        if (!err && event_pending(e)) {
            if (++e->polls < POLLS_BEFORE_RUN) {
                host_unlock();
                return cudaErrorNotReady;
            }
            run_until(stream_by_id(e->stream), e->seq);
            err = sync_status();
        }
    }
    host_unlock();
    return status(err);
}

cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    host_lock();
    struct CUevent_st *e = event_checked("cudaEventDestroy", event);
    cudaError_t err = cudaErrorInvalidResourceHandle;
    if (e) {
        struct CUevent_st **link = &H.events;
        while (*link != e)
            link = &(*link)->next;
        *link = e->next;
        free(e);
        err = cudaSuccess;
    }
    host_unlock();
    return status(err);
}

cudaError_t cudaDeviceSynchronize(void)
{
    host_lock();
    run_all();
    cudaError_t err = sync_status();
    host_unlock();
    return status(err);
}

/* ---- Copies ---- */

static const char *kind_name(enum cudaMemcpyKind kind)
{
    static const char *const names[] = {"cudaMemcpyHostToHost", "cudaMemcpyHostToDevice", "cudaMemcpyDeviceToHost",
                                        "cudaMemcpyDeviceToDevice", "cudaMemcpyDefault"};
    return (unsigned)kind <= cudaMemcpyDefault ? names[kind] : "(not a cudaMemcpyKind)";
}

static bool device_side_ok(const char *call, const char *side, const void *p, size_t n)
{
    struct alloc *a = alloc_holding(p);
    if (!a || a->pinned) {
        harness_error("%s: %s %p should be device memory but is %s", call, side, p,
                      a ? "pinned host memory (from cudaHostAlloc)"
                        : "in no device allocation (host memory, or freed)");
        return false;
    }
    size_t off = (size_t)((const char *)p - a->base);
    if (n > a->size - off) {
        harness_error("%s: %s range ends %zu bytes past the end of device allocation %p (%zu bytes; the range starts "
                      "at offset %zu)",
                      call, side, n - (a->size - off), (void *)a->base, a->size, off);
        return false;
    }
    return true;
}

static bool host_side_ok(const char *call, const char *side, const void *p, size_t n, bool need_pinned)
{
    struct alloc *d = device_alloc_overlapping(p, n);
    if (d) {
        harness_error("%s: %s %p should be host memory but lies in device allocation %p (%zu bytes): wrong "
                      "direction?",
                      call, side, p, (void *)d->base, d->size);
        return false;
    }
    if (!need_pinned)
        return true;
    struct alloc *a = alloc_holding(p);
    if (!a) {
        harness_error("%s: %s %p is pageable host memory; an async copy to or from the device needs pinned memory "
                      "from cudaHostAlloc (from pageable memory a GPU copies synchronously, so nothing overlaps)",
                      call, side, p);
        return false;
    }
    size_t off = (size_t)((const char *)p - a->base);
    if (n > a->size - off) {
        harness_error("%s: %s range ends %zu bytes past the end of pinned allocation %p (%zu bytes; the range starts "
                      "at offset %zu)",
                      call, side, n - (a->size - off), (void *)a->base, a->size, off);
        return false;
    }
    return true;
}

static cudaError_t copy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind, cudaStream_t stream,
                        bool async)
{
    const char *api = async ? "cudaMemcpyAsync" : "cudaMemcpy";
    struct CUstream_st *s = stream_checked(api, stream);
    if (!s)
        return status(cudaErrorInvalidResourceHandle);
    if (n == 0)
        return cudaSuccess;
    char call[256];
    snprintf(call, sizeof call, "%s(dst=%p, src=%p, %zu bytes, %s)", api, dst, src, n, kind_name(kind));
    if ((unsigned)kind > cudaMemcpyDefault || !dst || !src) {
        harness_error("%s: %s", call, !dst || !src ? "NULL pointer" : "unknown kind");
        return status(cudaErrorInvalidValue);
    }
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind == cudaMemcpyDefault) {
        const struct alloc *a = alloc_holding(dst), *b = alloc_holding(src);
        dst_dev = a && !a->pinned;
        src_dev = b && !b->pinned;
    }
    bool need_pinned = async && dst_dev != src_dev;
    if (!(dst_dev ? device_side_ok(call, "dst", dst, n) : host_side_ok(call, "dst", dst, n, need_pinned)) ||
        !(src_dev ? device_side_ok(call, "src", src, n) : host_side_ok(call, "src", src, n, need_pinned)))
        return status(cudaErrorInvalidValue);
    if ((uintptr_t)dst < (uintptr_t)src + n && (uintptr_t)src < (uintptr_t)dst + n) {
        harness_error("%s: source and destination overlap", call);
        return status(cudaErrorInvalidValue);
    }
    struct op *op = op_new(OP_COPY);
    op->u.copy.dst = dst;
    op->u.copy.src = src;
    op->u.copy.n = n;
    op->u.copy.dst_host = !dst_dev;
    op->u.copy.check_src = async && !src_dev && H.mode.streams == SIMT_STREAMS_DEFERRED;
    cudaError_t err = submit(s, op);
    if (err || async)
        return err;
    run_until(s, H.seq); /* blocking: this copy, and what it waits for */
    return status(sync_status());
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
    host_lock();
    cudaError_t err = copy(dst, src, count, kind, NULL, false);
    host_unlock();
    return err;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind, cudaStream_t stream)
{
    host_lock();
    cudaError_t err = copy(dst, src, count, kind, stream, true);
    host_unlock();
    return err;
}

cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)
{
    host_lock();
    struct CUstream_st *s = stream_checked("cudaMemsetAsync", stream);
    cudaError_t err = s ? cudaSuccess : status(cudaErrorInvalidResourceHandle);
    if (s && count > 0) {
        char call[128];
        snprintf(call, sizeof call, "cudaMemsetAsync(%p, %d, %zu bytes)", devPtr, value, count);
        if (!device_side_ok(call, "devPtr", devPtr, count)) {
            err = status(cudaErrorInvalidValue);
        } else {
            struct op *op = op_new(OP_MEMSET);
            op->u.set.dst = devPtr;
            op->u.set.value = value;
            op->u.set.n = count;
            err = submit(s, op);
        }
    }
    host_unlock();
    return err;
}

/* ---- Launches ---- */

void simt_launch(const char *name, int grid, int block, size_t shmem, cudaStream_t stream,
                 void (*entry)(const void *args), const void *args, size_t args_size)
{
    host_lock();
    if (grid < 1 || block < 1 || block > MAX_BLOCK || shmem > SHMEM_LIMIT) {
        harness_error("launch of kernel '%s' with grid %d, block %d, shmem %zu bytes: invalid configuration (needs "
                      "grid >= 1, 1 <= block <= %d, shmem <= %d bytes%s)",
                      name, grid, block, shmem, MAX_BLOCK, SHMEM_LIMIT,
                      shmem > SHMEM_LIMIT && shmem <= SHMEM_OPTIN
                          ? "; a GPU allows more only after cudaFuncSetAttribute, which the harness does not have"
                          : "");
        status(cudaErrorInvalidConfiguration);
    } else {
        char call[160];
        snprintf(call, sizeof call, "launch of kernel '%s'", name);
        struct CUstream_st *s = stream_checked(call, stream);
        if (!s) {
            status(cudaErrorInvalidResourceHandle);
        } else {
            struct op *op = op_new(OP_KERNEL);
            op->u.kernel = (struct launch){name, grid, block, shmem, entry, xcalloc(1, args_size), H.launches++};
            memcpy(op->u.kernel.args, args, args_size);
            submit(s, op);
        }
    }
    host_unlock();
}

/* ---- Device queries and errors ---- */

cudaError_t cudaGetDeviceCount(int *count)
{
    if (!count)
        return status(cudaErrorInvalidValue);
    host_lock();
    bool none = H.no_device;
    host_unlock();
    *count = none ? 0 : 1;
    return none ? status(cudaErrorNoDevice) : cudaSuccess;
}

static cudaError_t device_checked(int device)
{
    host_lock();
    bool none = H.no_device;
    host_unlock();
    return none ? status(cudaErrorNoDevice) : device != 0 ? status(cudaErrorInvalidDevice) : cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device_checked(device); }

cudaError_t cudaGetDevice(int *device)
{
    if (!device)
        return status(cudaErrorInvalidValue);
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (!prop)
        return status(cudaErrorInvalidValue);
    cudaError_t err = device_checked(device);
    if (err)
        return err;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    *prop = (struct cudaDeviceProp){
        .name = "SIMT harness (CPU)",
        .totalGlobalMem = pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 4 : (size_t)1 << 30,
        .sharedMemPerBlock = SHMEM_LIMIT,
        .regsPerBlock = 65536,
        .warpSize = WARP,
        .maxThreadsPerBlock = MAX_BLOCK,
        .maxThreadsDim = {MAX_BLOCK, 1, 1},
        .maxGridSize = {2147483647, 1, 1},
        .totalConstMem = 65536,
        .major = 9,
        .minor = 0,
        .multiProcessorCount = SM_COUNT,
        .concurrentKernels = 1,
        .asyncEngineCount = 2,
        .unifiedAddressing = 1,
        .memoryBusWidth = 5120,
        .l2CacheSize = 50 * 1024 * 1024,
        .maxThreadsPerMultiProcessor = 2048,
        .sharedMemPerMultiprocessor = 228 * 1024,
        .regsPerMultiprocessor = 65536,
        .sharedMemPerBlockOptin = SHMEM_OPTIN,
        .maxBlocksPerMultiProcessor = 32,
        .reservedSharedMemPerBlock = 1024,
    };
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
    host_lock();
    cudaError_t err = tls_last_error ? tls_last_error : H.failed ? cudaErrorLaunchFailure : cudaSuccess;
    host_unlock();
    tls_last_error = cudaSuccess;
    return err;
}

cudaError_t cudaPeekAtLastError(void)
{
    host_lock();
    cudaError_t err = tls_last_error ? tls_last_error : H.failed ? cudaErrorLaunchFailure : cudaSuccess;
    host_unlock();
    return err;
}

static const struct {
    cudaError_t code;
    const char *name, *text;
} error_table[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInsufficientDriver, "cudaErrorInsufficientDriver",
     "CUDA driver version is insufficient for CUDA runtime version"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};

const char *cudaGetErrorName(cudaError_t error)
{
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
        if (error_table[i].code == error)
            return error_table[i].name;
    return "unrecognized error code";
}

const char *cudaGetErrorString(cudaError_t error)
{
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
        if (error_table[i].code == error)
            return error_table[i].text;
    return "unrecognized error code";
}
