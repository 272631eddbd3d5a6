#include "base/status.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

Result<int> parse_positive(int x) {
  if (x <= 0) return invalid_argument("x must be positive, got " + std::to_string(x));
  return x;
}

Result<int> doubled(int x) {
  TANDEM_ASSIGN_OR_RETURN(int v, parse_positive(x));
  return 2 * v;
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(ok_status().ok());
  Status s = data_loss("file.gguf: truncated");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.to_string(), "DATA_LOSS: file.gguf: truncated");
  EXPECT_EQ(s.with_context("loading").message(), "loading: file.gguf: truncated");
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(doubled(3).value(), 6);
  Result<int> r = doubled(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("-1"), std::string::npos);
}

TEST(StatusDeathTest, ValueOnErrorAborts) {
  Result<int> r = invalid_argument("nope");
  EXPECT_DEATH((void)r.value(), "nope");
}

}  // namespace
}  // namespace tandem
