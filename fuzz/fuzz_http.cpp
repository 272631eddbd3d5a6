// libFuzzer entry point for the HTTP request parser: any byte stream gives
// requests or an error status, never a crash, and the outcome does not depend
// on how the stream is split into reads (the first byte picks the read size).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/http.h"

namespace {

struct Outcome {
  std::vector<std::string> requests;  // method, path and body of each request
  int error = 0;
  bool operator==(const Outcome&) const = default;
};

Outcome run(std::string_view input, size_t step) {
  tandem::server::HttpLimits lim;
  lim.max_body_bytes = 256;
  lim.max_header_bytes = 512;
  lim.max_headers = 8;
  tandem::server::HttpParser p(lim);
  Outcome out;
  std::string buf;
  for (size_t i = 0; i < input.size(); i += step) {
    buf.append(input.substr(i, step));
    for (;;) {
      const auto st = p.parse(buf);
      if (st == tandem::server::HttpParser::State::kError) {
        if (p.error_status() < 400 || p.error_message().empty()) __builtin_trap();
        out.error = p.error_status();
        return out;
      }
      if (st != tandem::server::HttpParser::State::kDone) break;
      if (p.consumed() == 0 || p.consumed() > buf.size()) __builtin_trap();
      const tandem::server::HttpRequest& r = p.request();
      if (r.body.size() > lim.max_body_bytes) __builtin_trap();
      out.requests.push_back(r.method + " " + r.path + " " + r.body);
      buf.erase(0, p.consumed());
      p.reset();
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 16;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = run(input, input.size() + 1);
  const Outcome split = run(input, step);
  // An error can only come earlier in a split stream when the limit on
  // buffered bytes is hit before the end; otherwise both must agree.
  if (whole.error == 0 && split.error == 0 && !(whole == split)) __builtin_trap();
  if (whole.error != 0 && split.error != 0 && whole.requests != split.requests) __builtin_trap();
  return 0;
}
