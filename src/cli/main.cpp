// tandem: the command-line entry point. Each subcommand lives in its own
// file; this one dispatches.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: tandem <command> [options]\n"
               "\n"
               "commands:\n"
               "  generate   generate text from a prompt (tandem generate -m PATH -p TEXT -n N)\n"
               "  ppl        perplexity of a text file (tandem ppl -m PATH -f FILE)\n"
               "  serve      OpenAI-compatible HTTP server (tandem serve -m PATH [--host H] [--port P])\n"
               "  info       print a model's architecture and tensors (tandem info -m PATH)\n"
               "  bench      machine roofline and model speed (tandem bench roofline | model -m PATH | profile -m PATH |\n"
               "             serve --url URL)\n"
               "  simulate   simulate a serving cluster on a trace (tandem simulate --trace F --model M --hardware H ...)\n"
               "  plan       find the cluster with the best goodput per dollar (tandem plan --trace F --model M --hardware LIST)\n"
               "  ckpt       checkpoint store (tandem ckpt save | restore | ls | verify | gc | du STORE)\n"
               "\n"
               "Run 'tandem <command> --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "generate") return tandem::cli::run_generate(args);
  if (cmd == "ppl") return tandem::cli::run_ppl(args);
  if (cmd == "info") return tandem::cli::run_info(args);
  if (cmd == "serve") return tandem::cli::run_serve(args);
  if (cmd == "bench") return tandem::cli::run_bench(args);
  if (cmd == "simulate") return tandem::cli::run_simulate(args);
  if (cmd == "plan") return tandem::cli::run_plan(args);
  if (cmd == "ckpt") return tandem::cli::run_ckpt(args);
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "tandem: unknown command '%s'\n\n", cmd.c_str());
  usage(stderr);
  return 2;
}
