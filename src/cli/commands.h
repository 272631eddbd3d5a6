// Subcommands of the tandem binary. Each returns the process exit code:
// 0 success, 1 runtime failure (message on stderr), 2 bad usage.
#pragma once

#include <string>
#include <vector>

namespace tandem::cli {

int run_generate(const std::vector<std::string>& args);
int run_ppl(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
// args[0] is the test: roofline or model.
int run_bench(const std::vector<std::string>& args);
// args[0] is the subcommand: save, restore, ls, verify, gc, du.
int run_ckpt(const std::vector<std::string>& args);

}  // namespace tandem::cli
