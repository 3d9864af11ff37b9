// Processes the CLI starts and stops: the control-plane tool it runs to completion, and the daemons
// (syncer, restarted control-plane components) that outlive it. A recorded PID is trusted only while
// /proc/PID/cmdline still mentions the vcluster's state directory, the same rule tests/bed uses, so a PID
// reused by an unrelated program after a reboot is never signalled.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace vc::cli {

// Runs argv[0] (a path) with extra environment variables, waits for it and returns its exit status (128+N
// for a signal). stdin is /dev/null; stderr is inherited so its progress lines reach the user; stdout is
// captured into *out when out is non-null, else inherited.
Error run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
          std::string* out, int* status);

// Starts argv as a daemon: a new session (setsid, so a terminal's SIGHUP or Ctrl-C never reaches it),
// stdin /dev/null, stdout and stderr appended to `log_path`, every other descriptor closed. The process
// is our child until we exit, so `exited` can report an early death with its status.
Error spawn_daemon(const std::vector<std::string>& argv, const std::string& log_path, pid_t* pid);

// True while `pid` is a live process (not a zombie) whose command line contains `marker`.
bool pid_alive(int pid, const std::string& marker);

// For a child started by this process: true once it has exited, with its status (reaps it).
bool exited(pid_t pid, int* status);

// Sends SIGTERM, waits up to `grace`, then SIGKILL; fails (naming the PID) if it is still alive 5 s
// later. A PID that is not alive or does not carry `marker` counts as already stopped.
Error stop_pid(int pid, const std::string& marker, const std::string& what, std::chrono::seconds grace);

// The command line of a live process, split at its NUL bytes; empty when it cannot be read.
std::vector<std::string> cmdline_of(int pid);

// A free TCP port on 127.0.0.1, chosen by the kernel (bind to port 0).
Error free_port(int* port);

// True when a bind to 127.0.0.1:port succeeds now.
bool port_free(int port);

// The last `n` lines of a file, each indented, for error messages.
std::string tail_lines(const std::string& path, size_t n);

// The directory of the running executable (/proc/self/exe), for finding its companions.
std::string exe_dir();

// True when path names an executable regular file.
bool is_executable(const std::string& path);

}  // namespace vc::cli
