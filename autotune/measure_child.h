// The measurement child harness: forking children of this process, the shared-memory slot a
// child reports in, the go socket that releases a built child to run, and the parent's side:
// polling a build, waiting with a timeout under cancellation, killing, reaping, reading results.
//
// codegen/process.h (run_program) does not fit: it spawns an external program and only waits
// for its exit status, while a measurement child is a fork without exec that goes on running
// this process's code (the JIT, the CUDA driver), reports through shared memory and is killed
// when it outlives its timeout or the batch is cancelled.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "measure_timer.h"
#include "tessel/autotune/measure.h"

namespace tessel::autotune::detail {

// The most costs a slot holds: MeasureOptions::repeat and interleaved rounds are clamped to it.
constexpr int kMaxRepeats = 64;
// Exit statuses of a measurement child: its run failed, its output was wrong, its build failed.
constexpr int kExitRuntime = 3, kExitWrong = 4, kExitCompile = 5;

enum BuildState : int { kBuilding = 0, kBuilt = 1, kBuildFailed = 2 };

// What a child reports back (constructed in shared memory before the fork).
struct ResultSlot {
  std::atomic<int> state{kBuilding};  // BuildState, set by the child once its build is over
  double build_seconds = 0;           // the child's compile time
  int num_costs = 0;
  double costs[kMaxRepeats] = {};
  int error = 0;                      // MeasureError of a failed kernel (interleaved measurement)
  char message[512] = {};
};
static_assert(std::atomic<int>::is_always_lock_free, "the build state is shared between processes");

// Stores `text` in the slot's message, cut to fit.
void copy_message(ResultSlot* slot, const std::string& text);

// Memory shared with children (anonymous, MAP_SHARED), unmapped on destruction.
struct SharedMemory {
  void* data = nullptr;
  size_t bytes = 0;
  explicit SharedMemory(size_t n);
  ~SharedMemory();
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
};

// A forked child that builds one candidate, then runs it when the parent says go. Destruction
// kills and reaps the child if it is still there.
struct ChildProcess {
  pid_t pid = -1;
  int go_fd = -1;  // the parent's end of the go socket; closing it without a go makes the child exit
  std::set<int>* open_fds = nullptr;  // where go_fd is registered while open
  std::unique_ptr<SharedMemory> shared;
  Clock::time_point started;
  bool built = false;

  ResultSlot* slot() const { return static_cast<ResultSlot*>(shared->data); }
  void close_go();
  // Closes the go socket, then kills and reaps the child if it is still there.
  void finish();
  ~ChildProcess();
};

// Where a wait on children stands; kInterrupted: the batch is to be abandoned (cancelled, or a
// child died of SIGINT).
enum class Progress { kPending, kDone, kInterrupted };

bool killed_by_sigint(int status);
// Waits until `pid` has ended (retrying on EINTR) and reaps it; its wait status in *status.
void reap_child(pid_t pid, int* status = nullptr);

// How fork_child() sets up a child before it does its work.
struct ChildSetup {
  // A measurement child: SIGINT back to its default action (a Ctrl-C at the terminal ends the
  // children at once; the parent sees why and discards), SIGKILL when the parent dies, and an
  // immediate exit (kExitRuntime) when the parent is gone already.
  bool supervised = true;
  int parent_end = -1;  // the parent's end of a channel to the child: closed in the child
  int child_end = -1;   // the child's end: closed in the parent once forked
  // Siblings' go sockets, closed in the child: a dead parent must leave every waiting child with
  // end-of-file.
  const std::set<int>* sibling_fds = nullptr;
};
// Flushes stdio (so that buffered output is not written twice) and forks. Returns fork()'s
// result: 0 in the child (set up), the child's pid in the parent, < 0 when the fork failed
// (both channel ends are closed then).
pid_t fork_child(const ChildSetup& setup);

// Forks a supervised child with a fresh result slot and a go socket (registered in open_go_fds
// while open). The child runs body(slot, go_fd), which must not return: it builds, reports in
// the slot, waits for go (wait_for_go) and runs. Null, with the reason in *failure, when the
// socket pair or the fork fail.
std::unique_ptr<ChildProcess> spawn_child(std::set<int>& open_go_fds,
                                          const std::function<void(ResultSlot*, int)>& body, std::string* failure);
// Child side: blocks until the parent's go; false when the parent closed the socket instead.
bool wait_for_go(int go_fd);

// One look at a building child: built, failed (result filled, child gone), timed out after
// `build_timeout` seconds (killed, result filled), or still building.
Progress poll_build(ChildProcess& c, double build_timeout, MeasureResult& result);
// Waits for child `c` to end, at most `timeout` seconds (then it is killed and kDone comes back
// with timed_out set); kInterrupted when cancelled() turned true (the child is killed). Leaves
// the wait status in `status`.
Progress wait_child(ChildProcess& c, double timeout, const std::function<bool()>& cancelled, int& status,
                    bool& timed_out);
// Tells a built child to run and waits for it (`run_timeout` seconds); fills result from the
// child's slot and how it ended.
Progress run_child(ChildProcess& c, double run_timeout, const std::function<bool()>& cancelled,
                   MeasureResult& result);

// Runs `question` in a short-lived forked child (not supervised) and collects what it returns
// through a pipe into *answer, which stays empty when the child died first. False, with the
// reason in *failure, when the pipe or the fork fail.
bool ask_child(const std::function<std::string()>& question, std::string* answer, std::string* failure);

}  // namespace tessel::autotune::detail
