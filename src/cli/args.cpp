#include "cli/args.h"

#include <cerrno>
#include <cstdlib>
#include <iterator>

namespace tandem::cli {

Result<Args> Args::parse(const std::vector<std::string>& argv, const std::vector<FlagSpec>& specs) {
  Args a;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& tok = argv[i];
    if (tok.size() < 2 || tok[0] != '-' || tok == "--") {
      a.positional_.push_back(tok);
      continue;
    }
    std::string name, value;
    bool has_value = false;
    if (tok.rfind("--", 0) == 0) {
      name = tok.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
    } else {
      name = tok.substr(1);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.long_name == name || (!s.short_name.empty() && s.short_name == name)) spec = &s;
    if (spec == nullptr) return invalid_argument("unknown option '" + tok + "'");
    if (spec->takes_value) {
      if (!has_value) {
        if (i + 1 >= argv.size()) return invalid_argument("option '" + tok + "' needs a value");
        value = argv[++i];
      }
    } else if (has_value) {
      return invalid_argument("option '--" + spec->long_name + "' takes no value");
    }
    a.values_.emplace(spec->long_name, value);
  }
  return a;
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  return std::prev(range.second)->second;  // last one wins
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

Result<int64_t> Args::get_int(const std::string& name, int64_t def) const {
  auto v = get(name);
  if (!v) return def;
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0)
    return invalid_argument("--" + name + " expects an integer, got '" + *v + "'");
  return static_cast<int64_t>(x);
}

Result<double> Args::get_double(const std::string& name, double def) const {
  auto v = get(name);
  if (!v) return def;
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || errno != 0)
    return invalid_argument("--" + name + " expects a number, got '" + *v + "'");
  return x;
}

std::string Args::help_text(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string left = "  ";
    left += s.short_name.empty() ? "    " : "-" + s.short_name + ", ";
    left += "--" + s.long_name + (s.takes_value ? " VALUE" : "");
    if (left.size() < 30) left.resize(30, ' ');
    out += left + " " + s.help + "\n";
  }
  return out;
}

}  // namespace tandem::cli
