// Subcommands of the tandem binary. Each returns the process exit code:
// 0 success, 1 runtime failure (message on stderr), 2 bad usage.
#pragma once

#include <string>
#include <vector>

namespace tandem::cli {

int run_generate(const std::vector<std::string>& args);
int run_ppl(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
int run_serve(const std::vector<std::string>& args);
// args[0] is the test: roofline, model or serve.
int run_bench(const std::vector<std::string>& args);
// tandem bench serve (bench_serve_cmd.cpp): load generator against a server.
int run_bench_serve(const std::vector<std::string>& args);

}  // namespace tandem::cli
