// Helpers shared by the store tests: temporary directories and test states.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"

namespace tandem::store::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tandem-store-test-XXXXXX";
    TANDEM_CHECK(mkdtemp(tmpl) != nullptr, "mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& n) const { return path_ + "/" + n; }

 private:
  std::string path_;
};

// A named set of byte buffers: what a test saves and expects back.
struct State {
  std::map<std::string, std::vector<uint8_t>> tensors;  // f32 data
  std::map<std::string, std::vector<uint8_t>> blobs;

  SaveRequest request(int64_t step) const {
    SaveRequest r;
    r.step = step;
    for (const auto& [name, data] : tensors) {
      SaveItem it;
      it.name = name;
      it.kind = EntryKind::kTensor;
      it.dtype = "f32";
      it.shape = {static_cast<int64_t>(data.size() / 4)};
      it.elem_size = 4;
      it.data = data.data();
      it.bytes = data.size();
      r.items.push_back(it);
    }
    for (const auto& [name, data] : blobs) {
      SaveItem it;
      it.name = name;
      it.data = data.data();
      it.bytes = data.size();
      r.items.push_back(it);
    }
    return r;
  }
};

// Floats like a model's weights: random normal values.
inline std::vector<uint8_t> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<uint8_t> out(n * 4);
  for (size_t i = 0; i < n; ++i) {
    float v = d(rng);
    std::memcpy(out.data() + 4 * i, &v, 4);
  }
  return out;
}

// Adds small noise to every float (an optimizer step).
inline void perturb(std::vector<uint8_t>* data, uint32_t seed, float scale = 1e-4f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  for (size_t i = 0; i + 4 <= data->size(); i += 4) {
    float v;
    std::memcpy(&v, data->data() + i, 4);
    v += d(rng);
    std::memcpy(data->data() + i, &v, 4);
  }
}

// A small state: three tensors over several 4 KiB chunks, and two blobs.
inline State small_state(uint32_t seed) {
  State s;
  s.tensors["model.w1"] = random_floats(3000, seed);      // 3 chunks of 4 KiB
  s.tensors["model.w2"] = random_floats(1024, seed + 1);  // 1 chunk
  s.tensors["opt.m"] = random_floats(2500, seed + 2);
  s.blobs["rng"] = std::vector<uint8_t>(100, static_cast<uint8_t>(seed));
  s.blobs["empty"] = {};
  return s;
}

// Restores every entry of `step` and compares with `want`.
inline ::testing::AssertionResult restores_exactly(Store& store, int64_t step, const State& want) {
  auto m = store.read_manifest(step);
  if (!m.ok()) return ::testing::AssertionFailure() << "step " << step << ": " << m.status().to_string();
  size_t n = 0;
  for (const auto* group : {&want.tensors, &want.blobs})
    for (const auto& [name, data] : *group) {
      auto got = store.read_entry(*m, name);
      if (!got.ok()) return ::testing::AssertionFailure() << "step " << step << ": " << got.status().to_string();
      if (got->size() != data.size() || (!data.empty() && std::memcmp(got->data(), data.data(), data.size()) != 0))
        return ::testing::AssertionFailure() << "step " << step << " entry " << name << " differs";
      ++n;
    }
  if (n != m->entries.size()) return ::testing::AssertionFailure() << "step " << step << ": entry count differs";
  return ::testing::AssertionSuccess();
}

// The pack file holding chunk h and the record's offset in it ("" if none).
inline std::pair<std::string, uint64_t> record_of(const std::string& dir, const Hash256& h) {
  for (const auto& f : std::filesystem::directory_iterator(dir + "/packs")) {
    std::ifstream in(f.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint64_t index_offset = 0, count = 0;
    Hash256 index_hash;
    if (!parse_pack_footer(std::string_view(data).substr(data.size() - kPackFooterBytes), data.size(), &index_offset,
                           &count, &index_hash)
             .ok())
      continue;
    auto entries = parse_pack_index(std::string_view(data).substr(index_offset, count * kPackIndexEntryBytes), count,
                                    index_offset, index_hash);
    if (!entries.ok()) continue;
    for (const auto& e : *entries)
      if (e.hash == h) return {f.path().string(), e.offset};
  }
  return {"", 0};
}

inline StoreOptions small_options(bool delta = false, int threads = 2) {
  StoreOptions o;
  o.chunk_bytes = 4096;
  o.delta = delta;
  o.keyframe_interval = 4;
  o.threads = threads;
  return o;
}

}  // namespace tandem::store::testing
