// CWorkerPool: persistent worker threads that wait for the next parallel loop by spinning briefly before they
// sleep (Sources/CWorkerPool/WorkerPool.c; NumericCore's `parallelFor` is its only user).

#ifndef DIFFUSIONSBI_CWORKERPOOL_H
#define DIFFUSIONSBI_CWORKERPOOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One chunk of a parallel loop: `fn(context, chunk)`.
typedef void (*dwp_chunk_fn)(void *context, ptrdiff_t chunk);

/// Runs `fn(context, c)` for every c in 0..<chunks on the calling thread and up to `threads − 1` pool workers
/// (started on first use), and returns 1 when all have finished. Each chunk runs exactly once, on whichever thread
/// takes it first. Returns 0 without running anything when the pool is already running a loop (a nested or
/// concurrent call: the caller runs the loop another way) or the workers cannot be started.
int dwp_run(int threads, ptrdiff_t chunks, dwp_chunk_fn fn, void *context);

/// How long (nanoseconds) an idle worker spins for the next loop before it sleeps (default 200,000: the gaps
/// between the parallel phases of a training step are far shorter, and waking a sleeping thread costs tens of
/// microseconds in a virtual machine). 0 makes workers sleep as soon as they are idle.
void dwp_set_spin_nanoseconds(long long nanoseconds);

#ifdef __cplusplus
}
#endif

#endif
