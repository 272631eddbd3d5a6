#include "plan/hardware.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"

namespace tandem::plan {

double HardwareSpec::flops_for(const std::string& dtype) const {
  if (auto it = peak_flops.find(dtype); it != peak_flops.end()) return it->second;
  if (auto it = peak_flops.find("bf16"); it != peak_flops.end()) return it->second;
  double best = 0;
  for (const auto& [k, v] : peak_flops) best = std::max(best, v);
  return best;
}

namespace {

using nlohmann::json;

Status need_number(const json& e, const std::string& entry, const char* key, double& out,
                   bool need_source) {
  if (!e.contains(key) || !e[key].is_number())
    return invalid_argument("hardware '" + entry + "': missing numeric field '" + key + "'");
  out = e[key].get<double>();
  if (!(out > 0)) return invalid_argument("hardware '" + entry + "': '" + key + "' must be > 0");
  if (need_source) {
    if (!e.contains("sources") || !e["sources"].is_object() || !e["sources"].contains(key) ||
        !e["sources"][key].is_string() || e["sources"][key].get<std::string>().empty())
      return invalid_argument("hardware '" + entry + "': field '" + key +
                              "' has no entry in 'sources' (every figure must say where it comes from)");
  }
  return ok_status();
}

}  // namespace

Result<std::vector<HardwareSpec>> parse_hardware_catalog(const std::string& json_text,
                                                         const std::string& source) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded()) return invalid_argument(source + ": not valid JSON");
  if (!j.contains("accelerators") || !j["accelerators"].is_array())
    return invalid_argument(source + ": expected {\"accelerators\": [...]}");
  std::vector<HardwareSpec> out;
  for (const json& e : j["accelerators"]) {
    HardwareSpec h;
    if (!e.contains("name") || !e["name"].is_string())
      return invalid_argument(source + ": an accelerator has no 'name'");
    h.name = e["name"].get<std::string>();
    h.description = e.value("description", "");
    const bool need_source = !e.value("measured", false);
    auto fail = [&](Status s) { return s.with_context(source); };
    if (!e.contains("peak_tflops") || !e["peak_tflops"].is_object() || e["peak_tflops"].empty())
      return fail(invalid_argument("hardware '" + h.name + "': missing 'peak_tflops' {dtype: TFLOP/s}"));
    for (const auto& [k, v] : e["peak_tflops"].items()) {
      if (!v.is_number() || !(v.get<double>() > 0))
        return fail(invalid_argument("hardware '" + h.name + "': peak_tflops." + k + " must be > 0"));
      h.peak_flops[k] = v.get<double>() * 1e12;
    }
    double d = 0;
    if (need_source && (!e.contains("sources") || !e["sources"].contains("peak_tflops")))
      return fail(invalid_argument("hardware '" + h.name + "': field 'peak_tflops' has no entry in 'sources'"));
    TANDEM_RETURN_IF_ERROR(fail(need_number(e, h.name, "mem_gb", d, need_source)));
    h.mem_bytes = d * 1e9;
    TANDEM_RETURN_IF_ERROR(fail(need_number(e, h.name, "mem_gbs", d, need_source)));
    h.mem_bw = d * 1e9;
    TANDEM_RETURN_IF_ERROR(fail(need_number(e, h.name, "scaleup_bw_gbs", d, need_source)));
    h.scaleup_bw = d * 1e9;
    TANDEM_RETURN_IF_ERROR(fail(need_number(e, h.name, "scaleup_latency_us", d, need_source)));
    h.scaleup_latency_s = d * 1e-6;
    TANDEM_RETURN_IF_ERROR(fail(need_number(e, h.name, "max_tp", d, need_source)));
    h.max_tp = static_cast<int>(d);
    TANDEM_RETURN_IF_ERROR(fail(need_number(e, h.name, "scaleout_bw_gbs", d, need_source)));
    h.scaleout_bw = d * 1e9;
    TANDEM_RETURN_IF_ERROR(fail(need_number(e, h.name, "scaleout_latency_us", d, need_source)));
    h.scaleout_latency_s = d * 1e-6;
    TANDEM_RETURN_IF_ERROR(fail(need_number(e, h.name, "price_per_hour", d, need_source)));
    h.price_per_hour = d;
    TANDEM_RETURN_IF_ERROR(fail(need_number(e, h.name, "power_w", d, need_source)));
    h.power_w = d;
    if (e.contains("sources") && e["sources"].is_object())
      for (const auto& [k, v] : e["sources"].items())
        if (v.is_string()) h.sources[k] = v.get<std::string>();
    for (const HardwareSpec& o : out)
      if (o.name == h.name) return invalid_argument(source + ": duplicate accelerator '" + h.name + "'");
    out.push_back(std::move(h));
  }
  return out;
}

Result<std::vector<HardwareSpec>> load_hardware_catalog(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_hardware_catalog(text, path);
}

namespace {

std::string find_data_file(const std::string& rel) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* dir = std::getenv("TANDEM_SOURCE_DIR")) {
    fs::path p = fs::path(dir) / rel;
    if (fs::exists(p, ec)) return p.string();
  }
  if (fs::exists(rel, ec)) return rel;
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    buf[n] = 0;
    fs::path p = fs::path(buf).parent_path();
    for (int i = 0; i < 4 && !p.empty(); ++i, p = p.parent_path())
      if (fs::exists(p / rel, ec)) return (p / rel).string();
  }
  return rel;
}

}  // namespace

std::string default_hardware_catalog_path() { return find_data_file("data/hardware/catalog.json"); }
std::string default_model_catalog_path() { return find_data_file("data/models/catalog.json"); }

Result<HardwareSpec> find_hardware(const std::vector<HardwareSpec>& catalog, const std::string& name) {
  std::string names;
  for (const HardwareSpec& h : catalog) {
    if (h.name == name) return h;
    names += (names.empty() ? "" : ", ") + h.name;
  }
  return not_found("unknown hardware '" + name + "' (catalog has: " + names + ")");
}

}  // namespace tandem::plan
