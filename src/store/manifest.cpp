#include "store/manifest.h"

#include <nlohmann/json.hpp>

namespace tandem::store {

using nlohmann::json;

namespace {
constexpr std::string_view kMagic = "tandem-manifest 1 sha256=";
}

const Entry* Manifest::find(const std::string& name) const {
  for (const auto& e : entries)
    if (e.name == name) return &e;
  return nullptr;
}

uint64_t Manifest::logical_bytes() const {
  uint64_t n = 0;
  for (const auto& e : entries) n += e.bytes;
  return n;
}

std::string serialize_manifest(const Manifest& m) {
  json body;
  body["step"] = m.step;
  body["time_us"] = m.time_us;
  body["writer"] = m.writer;
  body["written_bytes"] = m.written_bytes;
  body["tags"] = m.tags;
  body["metadata"] = m.metadata;
  json entries = json::array();
  for (const auto& e : m.entries) {
    json je;
    je["name"] = e.name;
    je["kind"] = e.kind == EntryKind::kTensor ? "tensor" : "blob";
    if (e.kind == EntryKind::kTensor) {
      je["dtype"] = e.dtype;
      je["shape"] = e.shape;
    }
    je["bytes"] = e.bytes;
    json chunks = json::array();
    for (const auto& c : e.chunks) {
      json jc = json::array({c.hash.hex(), c.bytes});
      if (!c.deps.empty()) {
        json deps = json::array();
        for (const auto& d : c.deps) deps.push_back(d.hex());
        jc.push_back(deps);
      }
      chunks.push_back(std::move(jc));
    }
    je["chunks"] = std::move(chunks);
    entries.push_back(std::move(je));
  }
  body["entries"] = std::move(entries);
  std::string text = body.dump();
  text.push_back('\n');
  return std::string(kMagic) + sha256(text).hex() + "\n" + text;
}

namespace {

Result<Hash256> parse_hash(const json& j) {
  if (!j.is_string()) return data_loss("manifest: chunk hash is not a string");
  auto h = Hash256::from_hex(j.get<std::string>());
  if (!h) return data_loss("manifest: malformed chunk hash");
  return *h;
}

Result<Manifest> parse_body(const json& body) {
  Manifest m;
  m.step = body.at("step").get<int64_t>();
  m.time_us = body.at("time_us").get<int64_t>();
  m.writer = body.at("writer").get<std::string>();
  m.written_bytes = body.at("written_bytes").get<uint64_t>();
  m.tags = body.at("tags").get<std::vector<std::string>>();
  m.metadata = body.at("metadata").get<std::map<std::string, std::string>>();
  for (const auto& je : body.at("entries")) {
    Entry e;
    e.name = je.at("name").get<std::string>();
    const std::string kind = je.at("kind").get<std::string>();
    if (kind == "tensor") {
      e.kind = EntryKind::kTensor;
      e.dtype = je.at("dtype").get<std::string>();
      e.shape = je.at("shape").get<std::vector<int64_t>>();
    } else if (kind != "blob") {
      return data_loss("manifest: unknown entry kind '" + kind + "'");
    }
    e.bytes = je.at("bytes").get<uint64_t>();
    uint64_t sum = 0;
    for (const auto& jc : je.at("chunks")) {
      if (!jc.is_array() || jc.size() < 2 || jc.size() > 3) return data_loss("manifest: malformed chunk");
      ChunkRef c;
      TANDEM_ASSIGN_OR_RETURN(c.hash, parse_hash(jc[0]));
      c.bytes = jc[1].get<uint64_t>();
      if (jc.size() == 3)
        for (const auto& d : jc[2]) {
          TANDEM_ASSIGN_OR_RETURN(Hash256 h, parse_hash(d));
          c.deps.push_back(h);
        }
      sum += c.bytes;
      e.chunks.push_back(std::move(c));
    }
    if (sum != e.bytes) return data_loss("manifest: entry '" + e.name + "' chunk lengths do not add up");
    m.entries.push_back(std::move(e));
  }
  return m;
}

}  // namespace

Result<Manifest> parse_manifest(std::string_view file) {
  const size_t nl = file.find('\n');
  if (nl == std::string_view::npos || file.substr(0, kMagic.size()) != kMagic ||
      nl != kMagic.size() + 64)
    return data_loss("manifest: bad header line (not a tandem manifest, or truncated)");
  auto want = Hash256::from_hex(file.substr(kMagic.size(), 64));
  const std::string_view body = file.substr(nl + 1);
  if (!want || sha256(body) != *want) return data_loss("manifest: checksum mismatch (corrupted or torn)");
  try {
    return parse_body(json::parse(body));
  } catch (const std::exception& e) {
    return data_loss(std::string("manifest: malformed body: ") + e.what());
  }
}

}  // namespace tandem::store
