// The hardware catalog: one accelerator (one GPU, or this machine's CPU) per
// entry, read from JSON files users can extend (data/hardware/catalog.json).
// Every figure of a catalog entry carries its source; load_hardware_catalog
// refuses an entry whose numeric field has none.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace tandem::plan {

struct HardwareSpec {
  std::string name;
  std::string description;
  std::map<std::string, double> peak_flops;  // dense FLOP/s (or OP/s) by dtype: "bf16", "fp8", ...
  double mem_bytes = 0;              // device memory capacity
  double mem_bw = 0;                 // bytes/s
  double scaleup_bw = 0;             // bytes/s each way, GPU to GPU inside a node (tensor parallelism)
  double scaleup_latency_s = 0;      // per collective
  int max_tp = 1;                    // GPUs one tensor-parallel instance may span
  double scaleout_bw = 0;            // bytes/s each way per GPU between nodes (KV transfer)
  double scaleout_latency_s = 0;     // per transfer
  double price_per_hour = 0;         // USD per accelerator-hour
  double power_w = 0;
  std::map<std::string, std::string> sources;  // field -> citation

  // Peak of `dtype`; falls back to bf16, then to the largest figure listed.
  double flops_for(const std::string& dtype) const;
};

// Parses a catalog ({"accelerators": [...]}, units as data/hardware/catalog.json
// documents them). InvalidArgument names the entry and field that is wrong
// (missing, non-positive, or without a source).
Result<std::vector<HardwareSpec>> parse_hardware_catalog(const std::string& json_text,
                                                         const std::string& source);
Result<std::vector<HardwareSpec>> load_hardware_catalog(const std::string& path);

// The shipped catalog: $TANDEM_SOURCE_DIR/data/hardware/catalog.json, else
// data/hardware/catalog.json relative to the working directory or to the
// executable's parent directories.
std::string default_hardware_catalog_path();
std::string default_model_catalog_path();

// Entry by name; NotFound lists the names there are.
Result<HardwareSpec> find_hardware(const std::vector<HardwareSpec>& catalog, const std::string& name);

}  // namespace tandem::plan
