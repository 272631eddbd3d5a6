#include "engine/stop_matcher.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

std::string run(std::vector<std::string> stops, const std::vector<std::string>& pieces, bool* stopped) {
  StopMatcher m(std::move(stops));
  std::string out;
  for (const auto& p : pieces) out += m.push(p);
  out += m.flush();
  *stopped = m.stopped();
  return out;
}

TEST(StopMatcherTest, StopsAcrossPieces) {
  bool stopped;
  EXPECT_EQ(run({"\n\n"}, {"hello", "\n", "\nworld"}, &stopped), "hello");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(run({"END"}, {"ab", "E", "N", "X", "y"}, &stopped), "abENXy");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(run({"xyz", "b"}, {"aaxy", "zb"}, &stopped), "aa");
  EXPECT_EQ(run({}, {"a", "b"}, &stopped), "ab");
}

TEST(StopMatcherTest, HoldsBackOnlyPossiblePrefixes) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("abcST"), "abc");
  EXPECT_EQ(m.push("x"), "STx");
  EXPECT_EQ(m.push("STO"), "");
  EXPECT_EQ(m.push("P tail"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("more"), "");
}

}  // namespace
}  // namespace tandem
