// Running an external tool from the code generator (see process.h).
#include "process.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tessel/ir/error.h"

extern char** environ;

namespace tessel::codegen {

int run_program(const std::vector<std::string>& argv) {
  std::vector<char*> pointers;
  for (const std::string& arg : argv) pointers.push_back(const_cast<char*>(arg.c_str()));
  pointers.push_back(nullptr);
  pid_t pid = 0;
  int error = posix_spawnp(&pid, pointers[0], nullptr, nullptr, pointers.data(), environ);
  user_check(error == 0) << "cannot run " << argv[0] << ": " << std::strerror(error);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    user_check(errno == EINTR) << "waiting for " << argv[0] << " failed: " << std::strerror(errno);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace tessel::codegen
