#include "cli/proc.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace vc::cli {

namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

int decode_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

// In a forked child: closes every descriptor above 2, so that a daemon never holds a pipe or socket of
// the CLI (a caller reading our stdout through a pipe would otherwise wait for the daemon to exit).
void close_other_fds(int keep = -1) {
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = 3; fd < max; fd++)
    if (fd != keep) close(fd);
}

}  // namespace

Error run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
          std::string* out, int* status) {
  int fds[2] = {-1, -1};
  if (out != nullptr && pipe2(fds, O_CLOEXEC) != 0)
    return Error(ErrorKind::kIo, std::string("cannot create a pipe (") + std::strerror(errno) + ")");
  auto args = c_argv(argv);
  pid_t pid = fork();
  if (pid < 0) return Error(ErrorKind::kIo, "cannot start " + argv[0] + " (" + std::strerror(errno) + ")");
  if (pid == 0) {
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    if (out != nullptr) dup2(fds[1], 1);
    close_other_fds();
    for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execv(args[0], args.data());
    std::fprintf(stderr, "vcluster: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  if (out != nullptr) {
    close(fds[1]);
    char buf[4096];
    while (true) {
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      out->append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR)
      return Error(ErrorKind::kIo, "cannot wait for " + argv[0] + " (" + std::strerror(errno) + ")");
  }
  *status = decode_status(st);
  return {};
}

Error spawn_daemon(const std::vector<std::string>& argv, const std::string& log_path, pid_t* pid_out) {
  int logfd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (logfd < 0)
    return Error(ErrorKind::kIo, "cannot open the log " + log_path + " (" + std::strerror(errno) + ")");
  // The exec error travels back through a close-on-exec pipe: EOF means exec succeeded.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    close(logfd);
    return Error(ErrorKind::kIo, std::string("cannot create a pipe (") + std::strerror(errno) + ")");
  }
  auto args = c_argv(argv);
  pid_t pid = fork();
  if (pid < 0) {
    close(logfd);
    close(fds[0]);
    close(fds[1]);
    return Error(ErrorKind::kIo, "cannot start " + argv[0] + " (" + std::strerror(errno) + ")");
  }
  if (pid == 0) {
    setsid();
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_DFL);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    int errfd = fds[1];
    // The error pipe survives the sweep; close-on-exec closes it once exec succeeds.
    close_other_fds(errfd);
    execv(args[0], args.data());
    int e = errno;
    ssize_t ignored = write(errfd, &e, sizeof e);
    (void)ignored;
    _exit(127);
  }
  close(logfd);
  close(fds[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(fds[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(fds[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    waitpid(pid, nullptr, 0);
    return Error(ErrorKind::kIo, "cannot run " + argv[0] + " (" + std::strerror(child_errno) + ")");
  }
  *pid_out = pid;
  return {};
}

std::vector<std::string> cmdline_of(int pid) {
  std::vector<std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  if (!in) return out;
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t start = 0;
  while (start < all.size()) {
    size_t z = all.find('\0', start);
    if (z == std::string::npos) z = all.size();
    out.push_back(all.substr(start, z - start));
    start = z + 1;
  }
  return out;
}

bool pid_alive(int pid, const std::string& marker) {
  if (pid <= 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  std::string line;
  std::getline(stat, line);
  // Field 3 is the state; the command name before it is parenthesised and may hold spaces.
  size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  char state = line[paren + 2];
  if (state == 'Z' || state == 'X') return false;
  for (auto& arg : cmdline_of(pid))
    if (arg.find(marker) != std::string::npos) return true;
  return false;
}

bool exited(pid_t pid, int* status) {
  int st = 0;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == pid) {
    if (status != nullptr) *status = decode_status(st);
    return true;
  }
  return false;
}

Error stop_pid(int pid, const std::string& marker, const std::string& what, std::chrono::seconds grace) {
  if (!pid_alive(pid, marker)) {
    exited(pid, nullptr);
    return {};
  }
  kill(pid, SIGTERM);
  auto wait_gone = [&](std::chrono::steady_clock::duration limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      // A child of ours becomes a zombie until reaped; reaping it here makes it gone.
      exited(pid, nullptr);
      if (!pid_alive(pid, marker)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  if (wait_gone(grace)) return {};
  kill(pid, SIGKILL);
  if (wait_gone(std::chrono::seconds(5))) return {};
  return Error(ErrorKind::kInternal,
               what + " (pid " + std::to_string(pid) + ") is still alive after SIGKILL");
}

Error free_port(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return Error(ErrorKind::kIo, std::string("cannot create a socket (") + std::strerror(errno) + ")");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int e = errno;
    close(fd);
    return Error(ErrorKind::kIo,
                 std::string("cannot find a free port on 127.0.0.1 (") + std::strerror(e) + ")");
  }
  *port = ntohs(a.sin_port);
  close(fd);
  return {};
}

bool port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  // SO_REUSEADDR as servers set it, so a port in TIME_WAIT after our own stop still counts as free.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

std::string tail_lines(const std::string& path, size_t n) {
  std::ifstream in(path);
  if (!in) return "    (" + path + " cannot be read)\n";
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > n) lines.pop_front();
  }
  if (lines.empty()) return "    (" + path + " is empty)\n";
  std::string out;
  for (auto& l : lines) out += "    " + l + "\n";
  return out;
}

std::string exe_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  size_t s = p.rfind('/');
  return s == std::string::npos ? "." : p.substr(0, s);
}

bool is_executable(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

}  // namespace vc::cli
