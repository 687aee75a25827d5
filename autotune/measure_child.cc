// The measurement child harness (see measure_child.h): forking and setting up children, the go
// socket, and the parent's polling, waiting, killing and reading of a child's report.
#include "measure_child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tessel/ir/error.h"

namespace tessel::autotune::detail {

void copy_message(ResultSlot* slot, const std::string& text) {
  std::strncpy(slot->message, text.c_str(), sizeof(slot->message) - 1);
  slot->message[sizeof(slot->message) - 1] = 0;
}

SharedMemory::SharedMemory(size_t n) : bytes(std::max<size_t>(n, 1)) {
  data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  internal_check(data != MAP_FAILED) << "mmap of " << bytes << " bytes failed";
}

SharedMemory::~SharedMemory() {
  if (data && data != MAP_FAILED) munmap(data, bytes);
}

void ChildProcess::close_go() {
  if (go_fd < 0) return;
  if (open_fds) open_fds->erase(go_fd);
  ::close(go_fd);
  go_fd = -1;
}

void ChildProcess::finish() {
  close_go();
  if (pid > 0) {
    kill(pid, SIGKILL);
    reap_child(pid);
  }
  pid = -1;
}

ChildProcess::~ChildProcess() {
  finish();
  if (shared) slot()->~ResultSlot();
}

bool killed_by_sigint(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGINT; }

void reap_child(pid_t pid, int* status) {
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
}

pid_t fork_child(const ChildSetup& setup) {
  std::fflush(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    if (setup.parent_end >= 0) ::close(setup.parent_end);
    if (setup.child_end >= 0) ::close(setup.child_end);
    return pid;
  }
  if (pid == 0) {
    if (setup.supervised) {
      signal(SIGINT, SIG_DFL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(kExitRuntime);
    }
    if (setup.parent_end >= 0) ::close(setup.parent_end);
    if (setup.sibling_fds) {
      for (int fd : *setup.sibling_fds) ::close(fd);
    }
    return 0;
  }
  if (setup.child_end >= 0) ::close(setup.child_end);
  return pid;
}

std::unique_ptr<ChildProcess> spawn_child(std::set<int>& open_go_fds,
                                          const std::function<void(ResultSlot*, int)>& body, std::string* failure) {
  auto c = std::make_unique<ChildProcess>();
  c->shared = std::make_unique<SharedMemory>(sizeof(ResultSlot));
  ResultSlot* slot = new (c->shared->data) ResultSlot();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    *failure = "socketpair failed";
    return nullptr;
  }
  pid_t pid = fork_child({.supervised = true, .parent_end = sv[0], .child_end = sv[1], .sibling_fds = &open_go_fds});
  if (pid < 0) {
    *failure = "fork failed";
    return nullptr;
  }
  if (pid == 0) {
    body(slot, sv[1]);
    _exit(kExitRuntime);  // not reached: the body ends the child
  }
  c->pid = pid;
  c->go_fd = sv[0];
  c->open_fds = &open_go_fds;
  c->started = Clock::now();
  open_go_fds.insert(c->go_fd);
  return c;
}

bool wait_for_go(int go_fd) {
  char go = 0;
  ssize_t n;
  do {
    n = ::read(go_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

Progress poll_build(ChildProcess& c, double build_timeout, MeasureResult& result) {
  ResultSlot* slot = c.slot();
  int state = slot->state.load();
  if (state == kBuilt) {
    c.built = true;
    result.build_seconds += slot->build_seconds;
    return Progress::kDone;
  }
  int status = 0;
  pid_t w = waitpid(c.pid, &status, WNOHANG);
  if (w == c.pid) {
    c.pid = -1;
    c.close_go();
    if (killed_by_sigint(status)) return Progress::kInterrupted;
    result.error = MeasureError::kCompile;
    if (slot->message[0]) {
      result.message = slot->message;
    } else if (WIFSIGNALED(status)) {
      result.message = std::string("build process killed by signal ") + strsignal(WTERMSIG(status));
    } else {
      result.message = "build process exited with status " + std::to_string(WEXITSTATUS(status));
    }
    return Progress::kDone;
  }
  double elapsed = seconds_since(c.started);
  if (elapsed > build_timeout) {
    c.finish();
    result.error = MeasureError::kBuildTimeout;
    result.message = "build timed out after " + std::to_string(build_timeout) + " s";
    result.build_seconds += elapsed;
    return Progress::kDone;
  }
  return Progress::kPending;
}

// The parent sleeps in poll() on a pidfd meanwhile: on 2 shared cores a parent that woke up
// every few hundred microseconds would preempt the kernel's threads. The 20 ms slices only bound
// how late a Ctrl-C or the timeout is noticed.
Progress wait_child(ChildProcess& c, double timeout, const std::function<bool()>& cancelled, int& status,
                    bool& timed_out) {
  auto start = Clock::now();
  timed_out = false;
  int pidfd = c.pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, c.pid, 0)) : -1;
  Progress progress = Progress::kDone;
  while (c.pid > 0) {
    pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) {
      c.pid = -1;
    } else if (cancelled && cancelled()) {
      c.finish();
      progress = Progress::kInterrupted;
    } else if (seconds_since(start) > timeout) {
      c.finish();
      timed_out = true;
    } else if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, 20);
    } else {
      usleep(200);  // no pidfd (kernel before 5.3): poll the child's state
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  return progress;
}

Progress run_child(ChildProcess& c, double run_timeout, const std::function<bool()>& cancelled,
                   MeasureResult& result) {
  ResultSlot* slot = c.slot();
  char go = 1;
  ssize_t sent = send(c.go_fd, &go, 1, MSG_NOSIGNAL);
  c.close_go();
  int status = 0;
  if (sent != 1) {
    // The child is gone already: collect how it ended.
    reap_child(c.pid, &status);
    c.pid = -1;
  }
  bool timed_out = false;
  if (wait_child(c, run_timeout, cancelled, status, timed_out) == Progress::kInterrupted) {
    return Progress::kInterrupted;
  }
  if (timed_out) {
    result.error = MeasureError::kRunTimeout;
    result.message = "run timed out after " + std::to_string(run_timeout) + " s";
    return Progress::kDone;
  }
  if (killed_by_sigint(status)) return Progress::kInterrupted;
  if (WIFSIGNALED(status)) {
    result.error = MeasureError::kRuntime;
    result.message = std::string("child killed by signal ") + strsignal(WTERMSIG(status));
  } else if (WEXITSTATUS(status) == kExitWrong) {
    result.error = MeasureError::kWrongAnswer;
    result.message = slot->message;
  } else if (WEXITSTATUS(status) != 0) {
    result.error = MeasureError::kRuntime;
    result.message =
        slot->message[0] ? slot->message : "child exited with status " + std::to_string(WEXITSTATUS(status));
  } else {
    result.costs.assign(slot->costs, slot->costs + slot->num_costs);
  }
  return Progress::kDone;
}

bool ask_child(const std::function<std::string()>& question, std::string* answer, std::string* failure) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *failure = "pipe failed";
    return false;
  }
  pid_t pid = fork_child({.supervised = false, .parent_end = fds[0], .child_end = fds[1]});
  if (pid < 0) {
    *failure = "fork failed";
    return false;
  }
  if (pid == 0) {
    std::string reply = question();
    size_t written = 0;
    while (written < reply.size()) {
      ssize_t n = ::write(fds[1], reply.data() + written, reply.size() - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    _exit(0);
  }
  answer->clear();
  char buffer[512];
  for (;;) {
    ssize_t n = ::read(fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer->append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  reap_child(pid);
  return true;
}

}  // namespace tessel::autotune::detail
