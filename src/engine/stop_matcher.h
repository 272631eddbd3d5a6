// Stop strings over a stream of text pieces. Text that might be the start of
// a stop string is held back until it is known not to be; text from the stop
// string on is never emitted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Feeds `piece`; returns the text now safe to emit. After a stop string
  // is found, stopped() is true and further pushes return nothing.
  std::string push(std::string_view piece);
  // End of stream: returns whatever was held back (unless stopped).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace tandem
