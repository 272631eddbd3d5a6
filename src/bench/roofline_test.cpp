#include "bench/roofline.h"

#include <gtest/gtest.h>

namespace tandem::bench {
namespace {

// Positivity only: speeds are never asserted (bench/README.md).
TEST(RooflineTest, EveryIsaLevelMeasuresSomething) {
  ThreadPool pool(2);
  for (IsaLimit isa : {IsaLimit::kPortable, IsaLimit::kAvx2, IsaLimit::kAuto}) {
    RooflineOptions o;
    o.seconds = 0;  // the minimum number of passes
    o.mem_bytes = size_t{4} << 20;
    o.isa = isa;
    auto r = measure_roofline(o, pool);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_GT(r->mem_bw_gbs, 0);
    EXPECT_GT(r->peak_gflops_f32, 0);
    EXPECT_GT(r->peak_gops_int8, 0);
    EXPECT_EQ(r->threads, 2);
    EXPECT_FALSE(r->isa_f32.empty());
    if (isa == IsaLimit::kPortable) {
      EXPECT_EQ(r->isa_f32, "portable");
      EXPECT_EQ(r->isa_int8, "portable");
      EXPECT_EQ(r->isa_mem, "portable");
    }
  }
}

TEST(RooflineTest, JsonRoundTrip) {
  Roofline r;
  r.mem_bw_gbs = 51.5;
  r.peak_gflops_f32 = 395;
  r.peak_gops_int8 = 1580;
  r.isa_f32 = "avx512f";
  r.isa_int8 = "avx512-vnni";
  r.isa_mem = "avx2";
  r.threads = 2;
  auto back = roofline_from_json(roofline_to_json(r), "test");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->mem_bw_gbs, 51.5);
  EXPECT_EQ(back->peak_gflops_f32, 395);
  EXPECT_EQ(back->peak_gops_int8, 1580);
  EXPECT_EQ(back->isa_f32, "avx512f");
  EXPECT_EQ(back->isa_int8, "avx512-vnni");
  EXPECT_EQ(back->threads, 2);
}

TEST(RooflineTest, BadJsonNamesTheFileAndTheKey) {
  auto r = roofline_from_json("{\"mem_bw_gbs\": 10, \"peak_gflops_f32\": 0}", "r.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("r.json"), std::string::npos);
  EXPECT_NE(r.status().message().find("peak_gflops_f32"), std::string::npos);
  EXPECT_FALSE(roofline_from_json("not json", "r.json").ok());
  EXPECT_FALSE(roofline_from_json("[1, 2]", "r.json").ok());
}

TEST(RooflineTest, IsaNames) {
  EXPECT_EQ(*isa_limit_from_name("auto"), IsaLimit::kAuto);
  EXPECT_EQ(*isa_limit_from_name("avx2"), IsaLimit::kAvx2);
  EXPECT_EQ(*isa_limit_from_name("portable"), IsaLimit::kPortable);
  EXPECT_FALSE(isa_limit_from_name("avx1024").ok());
}

}  // namespace
}  // namespace tandem::bench
