#include "plan/hardware.h"

#include <gtest/gtest.h>

namespace tandem::plan {
namespace {

TEST(Hardware, ShippedCatalogLoadsWithEveryFigureCited) {
  auto cat = load_hardware_catalog(default_hardware_catalog_path());
  ASSERT_TRUE(cat.ok()) << cat.status().to_string();
  for (const char* name : {"a100-80gb", "h100-sxm", "h200", "b200", "l40s", "hypo-compute", "hypo-hbm"}) {
    auto h = find_hardware(*cat, name);
    ASSERT_TRUE(h.ok()) << name;
    for (const char* f : {"peak_tflops", "mem_gb", "mem_gbs", "scaleup_bw_gbs", "scaleup_latency_us", "max_tp",
                          "scaleout_bw_gbs", "scaleout_latency_us", "price_per_hour", "power_w"})
      EXPECT_TRUE(h->sources.count(f) && !h->sources.at(f).empty()) << name << " " << f;
  }
  auto h100 = *find_hardware(*cat, "h100-sxm");
  EXPECT_DOUBLE_EQ(h100.flops_for("bf16"), 989.4e12);
  EXPECT_DOUBLE_EQ(h100.mem_bw, 3350e9);
  EXPECT_DOUBLE_EQ(h100.mem_bytes, 80e9);
  // The two hypothetical parts are what they claim relative to the H100.
  auto hc = *find_hardware(*cat, "hypo-compute"), hh = *find_hardware(*cat, "hypo-hbm");
  EXPECT_GT(hc.flops_for("bf16") / hc.mem_bw, h100.flops_for("bf16") / h100.mem_bw);
  EXPECT_LT(hh.flops_for("bf16") / hh.mem_bytes, h100.flops_for("bf16") / h100.mem_bytes / 4);
  EXPECT_FALSE(find_hardware(*cat, "tpu").ok());
}

TEST(Hardware, RejectsUncitedOrBadFigures) {
  const std::string ok_entry = R"({"accelerators": [{"name": "x", "peak_tflops": {"bf16": 100},
    "mem_gb": 10, "mem_gbs": 100, "scaleup_bw_gbs": 10, "scaleup_latency_us": 1, "max_tp": 1,
    "scaleout_bw_gbs": 1, "scaleout_latency_us": 1, "price_per_hour": 1, "power_w": 1,
    "sources": {"peak_tflops": "a", "mem_gb": "a", "mem_gbs": "a", "scaleup_bw_gbs": "a", "scaleup_latency_us": "a",
                "max_tp": "a", "scaleout_bw_gbs": "a", "scaleout_latency_us": "a", "price_per_hour": "a", "power_w": "a"}}]})";
  ASSERT_TRUE(parse_hardware_catalog(ok_entry, "t").ok());
  std::string uncited = ok_entry;
  uncited.replace(uncited.find("\"power_w\": \"a\""), 14, "\"other\": \"a\"");
  auto r = parse_hardware_catalog(uncited, "t");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("power_w"), std::string::npos);
  std::string negative = ok_entry;
  negative.replace(negative.find("\"mem_gb\": 10"), 12, "\"mem_gb\": -1");
  EXPECT_FALSE(parse_hardware_catalog(negative, "t").ok());
  EXPECT_FALSE(parse_hardware_catalog("{", "t").ok());
}

}  // namespace
}  // namespace tandem::plan
