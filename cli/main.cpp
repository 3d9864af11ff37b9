// vcluster: creates, connects to, lists, pauses, resumes and deletes virtual clusters whose host is the
// current kube context. See docs/cli.md.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "util/log.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  vc::cli::Options o;
  if (vc::Error e = vc::cli::parse_args(args, &o)) {
    std::fprintf(stderr, "error: %s\n", e.message.c_str());
    return 2;
  }
  // The core logs through spdlog; a command's own messages are its output, so only warnings and errors of
  // the core reach the terminal.
  vc::setup_logging("warn", vc::LogFormat::kText);
  return vc::cli::run_command(o);
}
