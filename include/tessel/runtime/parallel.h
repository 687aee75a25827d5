/* Tessel runtime: the parallel-launch ABI that generated code calls.
 * A parallel loop in generated code is outlined into a task function and handed to
 * tessel_parallel_launch, which runs it on the runtime's persistent thread pool.
 * Plain C so that LLVM-generated code and any C program can call it. */
#ifndef TESSEL_RUNTIME_PARALLEL_H_
#define TESSEL_RUNTIME_PARALLEL_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Body of an outlined parallel loop. The runtime calls it once per task with
 * task_id in [0, num_tasks); the body computes its own slice of the iteration space.
 * Returns 0 on success, non-zero on failure. */
typedef int32_t (*TesselParallelLambda)(int32_t task_id, int32_t num_tasks, void* closure);

/* Tasks per pool thread when a launch leaves the count to the runtime (num_tasks = 0). Each
 * thread runs its first task and then takes the next unclaimed one, so a thread that the OS or
 * another tenant of the core slows down runs fewer tasks instead of holding up the launch. */
#define TESSEL_TASKS_PER_THREAD 8

/* Runs `lambda` on the pool with `num_tasks` tasks and waits for all of them. num_tasks = 0
 * lets the runtime choose: TESSEL_TASKS_PER_THREAD tasks per pool thread, or 1 where the launch
 * runs serially. The calling thread takes part as task 0. A launch from inside a running task
 * runs all tasks serially on the calling thread (nested parallelism is serial).
 * Returns 0 if every task returned 0, else the first non-zero result. */
int32_t tessel_parallel_launch(TesselParallelLambda lambda, void* closure, int32_t num_tasks);

/* Number of threads in the pool: TESSEL_NUM_THREADS if set (>= 1), else the number of cores
 * this process may run on. */
int32_t tessel_num_threads(void);

#ifdef __cplusplus
}
#endif

#endif /* TESSEL_RUNTIME_PARALLEL_H_ */
