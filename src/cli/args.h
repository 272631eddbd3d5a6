// A small flag parser: "--name value", "-n value", "--name=value" and boolean
// "--flag". Unknown flags and missing values are usage errors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace tandem::cli {

struct FlagSpec {
  std::string long_name;   // "temperature"
  std::string short_name;  // "t" or empty
  bool takes_value = true;
  std::string help;
};

class Args {
 public:
  static Result<Args> parse(const std::vector<std::string>& argv, const std::vector<FlagSpec>& specs);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> get(const std::string& name) const;
  // All values of a repeatable flag, in order.
  std::vector<std::string> get_all(const std::string& name) const;
  Result<int64_t> get_int(const std::string& name, int64_t def) const;
  Result<double> get_double(const std::string& name, double def) const;
  const std::vector<std::string>& positional() const { return positional_; }

  static std::string help_text(const std::vector<FlagSpec>& specs);

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace tandem::cli
