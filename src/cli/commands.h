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
// Cluster planning (plan_cmd.cpp): simulate one cluster, search for the best
// one, and `tandem bench profile` (step times for the cost model's fit).
int run_simulate(const std::vector<std::string>& args);
int run_plan(const std::vector<std::string>& args);
int run_bench_profile(const std::vector<std::string>& args);
// tandem bench serve (bench_serve_cmd.cpp): load generator against a server.
int run_bench_serve(const std::vector<std::string>& args);
// args[0] is the subcommand: save, restore, ls, verify, gc, du.
int run_ckpt(const std::vector<std::string>& args);

}  // namespace tandem::cli
