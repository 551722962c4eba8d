// A pool of persistent worker threads for short parallel loops (Sources/CWorkerPool/include/CWorkerPool.h).
//
// A loop is published by writing its function, context and chunk count and then moving the ticket to the next
// generation with chunk 0. Workers that are spinning see the new generation within a fraction of a
// microsecond; sleeping ones are woken through a condition variable. Every participating thread, the caller
// included, takes chunk indices from the ticket until none are left; the caller returns when the count
// of unfinished chunks reaches zero. An idle worker spins (with the processor's pause hint, yielding its core every
// 256 pauses, about 15 µs, so another runnable thread is not kept off it) for `spin_ns` before it sleeps, so the phases of a training step, each a few hundred microseconds
// apart, never pay for waking a thread.

#include "CWorkerPool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define DWP_MAX_WORKERS 255

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;  // worker start-up and sleeping
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static atomic_int busy = 0;                               // a loop is being run
// The loop's generation (high 32 bits, advanced once per published loop) and its next untaken chunk (low 32
// bits). A chunk is taken by a compare-and-swap that also checks the generation, so a worker still finishing one
// loop can never take a chunk of the next one by mistake.
static _Atomic(uint64_t) ticket = 0;
static atomic_long unfinished = 0;
static atomic_int sleepers = 0;
static atomic_llong spin_ns = 200000;
static int started = 0;                                   // workers started (under `lock`)

// The published loop, stored before `ticket` moves to its generation and stable while it has unfinished chunks.
static _Atomic(dwp_chunk_fn) job_fn;
static _Atomic(void *) job_context;
static atomic_long job_chunks;
static atomic_int job_workers;                            // workers 0..<job_workers take part

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static inline uint32_t generation_of(uint64_t t) { return (uint32_t)(t >> 32); }

/// Takes and runs chunks of loop `generation` until none are left.
static void take_chunks(uint32_t generation) {
  for (;;) {
    uint64_t t = atomic_load_explicit(&ticket, memory_order_acquire);
    if (generation_of(t) != generation) return;
    const long c = (long)(t & 0xFFFFFFFFu);
    if (c >= atomic_load_explicit(&job_chunks, memory_order_relaxed)) return;
    if (!atomic_compare_exchange_weak_explicit(&ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire))
      continue;
    const dwp_chunk_fn fn = atomic_load_explicit(&job_fn, memory_order_relaxed);
    fn(atomic_load_explicit(&job_context, memory_order_relaxed), c);
    atomic_fetch_sub_explicit(&unfinished, 1, memory_order_release);
  }
}

static void *worker_main(void *arg) {
  const int index = (int)(intptr_t)arg;
  uint32_t seen = generation_of(atomic_load_explicit(&ticket, memory_order_acquire));
  for (;;) {
    uint32_t g = generation_of(atomic_load_explicit(&ticket, memory_order_acquire));
    if (g == seen) {
      const long long limit = atomic_load_explicit(&spin_ns, memory_order_relaxed);
      const long long start = limit > 0 ? now_ns() : 0;
      unsigned spins = 0;
      while ((g = generation_of(atomic_load_explicit(&ticket, memory_order_acquire))) == seen) {
        cpu_relax();
        if ((++spins & 255) == 0) {
          if (limit <= 0 || now_ns() - start > limit) break;
          sched_yield();  // about every 15 µs: another runnable thread on this core gets it
        }
      }
      if (g == seen) {
        pthread_mutex_lock(&lock);
        atomic_fetch_add_explicit(&sleepers, 1, memory_order_seq_cst);
        while ((g = generation_of(atomic_load_explicit(&ticket, memory_order_seq_cst))) == seen)
          pthread_cond_wait(&wake, &lock);
        atomic_fetch_sub_explicit(&sleepers, 1, memory_order_seq_cst);
        pthread_mutex_unlock(&lock);
      }
    }
    seen = g;
    if (index < atomic_load_explicit(&job_workers, memory_order_relaxed)) take_chunks(g);
  }
  return NULL;
}

/// Starts workers until `count` run; returns how many run.
static int ensure_workers(int count) {
  if (count > DWP_MAX_WORKERS) count = DWP_MAX_WORKERS;
  pthread_mutex_lock(&lock);
  while (started < count) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    const int failed = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)started);
    pthread_attr_destroy(&attr);
    if (failed) break;
    started++;
  }
  const int n = started;
  pthread_mutex_unlock(&lock);
  return n;
}

int dwp_run(int threads, ptrdiff_t chunks, dwp_chunk_fn fn, void *context) {
  if (chunks <= 0) return 1;
  int expected = 0;
  if (!atomic_compare_exchange_strong(&busy, &expected, 1)) return 0;
  int workers = threads - 1;
  if ((ptrdiff_t)workers > chunks - 1) workers = (int)(chunks - 1);
  if (workers > 0) {
    const int available = ensure_workers(workers);
    if (available < workers) workers = available;
  }
  if (workers <= 0) {
    for (ptrdiff_t c = 0; c < chunks; c++) fn(context, c);
    atomic_store_explicit(&busy, 0, memory_order_release);
    return 1;
  }
  atomic_store_explicit(&job_fn, fn, memory_order_relaxed);
  atomic_store_explicit(&job_context, context, memory_order_relaxed);
  atomic_store_explicit(&job_chunks, (long)chunks, memory_order_relaxed);
  atomic_store_explicit(&job_workers, workers, memory_order_relaxed);
  atomic_store_explicit(&unfinished, (long)chunks, memory_order_relaxed);
  const uint32_t g = generation_of(atomic_load_explicit(&ticket, memory_order_relaxed)) + 1;
  atomic_store_explicit(&ticket, (uint64_t)g << 32, memory_order_seq_cst);
  if (atomic_load_explicit(&sleepers, memory_order_seq_cst) > 0) {
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
  }
  take_chunks(g);
  unsigned spins = 0;
  while (atomic_load_explicit(&unfinished, memory_order_acquire) > 0) {
    cpu_relax();
    if ((++spins & 255) == 0) sched_yield();
  }
  atomic_store_explicit(&busy, 0, memory_order_release);
  return 1;
}

void dwp_set_spin_nanoseconds(long long nanoseconds) {
  atomic_store_explicit(&spin_ns, nanoseconds < 0 ? 0 : nanoseconds, memory_order_relaxed);
}
