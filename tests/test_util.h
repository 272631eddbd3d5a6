// Helpers shared by the integration tests: locating test data and reading
// the reference dumps written by tools/reference.py.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"

namespace tandem::testing {

inline std::string source_dir() {
  if (const char* d = std::getenv("TANDEM_SOURCE_DIR")) return d;
#ifdef TANDEM_SOURCE_DIR
  return TANDEM_SOURCE_DIR;
#else
  return ".";
#endif
}

// Generated at test time by tools/make_reference_data.py (a CTest fixture).
inline std::string testdata_dir() {
  if (const char* d = std::getenv("TANDEM_TESTDATA")) return d;
  return source_dir() + "/.cache/testdata";
}

struct RefCase {
  std::vector<int32_t> tokens;
  std::vector<float> logits;  // [tokens.size(), vocab]
  std::vector<int32_t> greedy;
};

struct RefDump {
  int64_t vocab = 0;
  std::vector<RefCase> cases;
};

// Reads PREFIX.json + PREFIX.bin (see tools/reference.py logits).
inline bool read_ref(const std::string& prefix, RefDump& out, std::string& err) {
  auto text = read_file(prefix + ".json");
  if (!text.ok()) {
    err = text.status().to_string();
    return false;
  }
  auto bin = read_file(prefix + ".bin");
  if (!bin.ok()) {
    err = bin.status().to_string();
    return false;
  }
  nlohmann::json j = nlohmann::json::parse(*text);
  out.vocab = j["vocab_size"].get<int64_t>();
  const float* all = reinterpret_cast<const float*>(bin->data());
  const size_t n_floats = bin->size() / sizeof(float);
  for (const auto& c : j["cases"]) {
    RefCase rc;
    rc.tokens = c["tokens"].get<std::vector<int32_t>>();
    rc.greedy = c["greedy"].get<std::vector<int32_t>>();
    const size_t off = c["offset"].get<size_t>();
    const size_t len = c["n_positions"].get<size_t>() * static_cast<size_t>(out.vocab);
    if (off + len > n_floats) {
      err = prefix + ".bin too short";
      return false;
    }
    rc.logits.assign(all + off, all + off + len);
    out.cases.push_back(std::move(rc));
  }
  return true;
}

}  // namespace tandem::testing
