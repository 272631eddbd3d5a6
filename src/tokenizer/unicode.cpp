#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <vector>

namespace tandem::unicode {
namespace {

struct CombiningClass {
  uint32_t cp;
  uint8_t ccc;
};
struct Decomposition {
  uint32_t cp;
  uint32_t first;
  uint32_t second;  // 0: singleton
  bool composes;    // primary composite: first+second compose back to cp
};

#include "tokenizer/unicode_tables.inc"

// Valid continuation-byte range for the byte after a lead byte (Unicode Table 3-7).
struct LeadInfo {
  int len;  // 0: not a valid lead byte
  uint8_t lo, hi;
};

LeadInfo lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Length of the valid prefix of a sequence at s[i]: returns {valid_len, complete}.
// complete=true: a whole valid character of valid_len bytes.
// complete=false: valid_len bytes form a maximal valid-so-far prefix (>= 1 for
// a valid lead byte, 0 for a byte that cannot start a character).
std::pair<size_t, bool> scan(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  LeadInfo li = lead_info(b0);
  if (li.len == 0) return {0, false};
  if (li.len == 1) return {1, true};
  size_t n = 1;
  while (n < static_cast<size_t>(li.len)) {
    if (i + n >= s.size()) return {n, false};
    const auto b = static_cast<uint8_t>(s[i + n]);
    const uint8_t lo = n == 1 ? li.lo : 0x80;
    const uint8_t hi = n == 1 ? li.hi : 0xBF;
    if (b < lo || b > hi) return {n, false};
    ++n;
  }
  return {n, true};
}

// ---- NFC ----

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t ccc_of(uint32_t cp) {
  if (cp < 0x300) return 0;
  auto it = std::lower_bound(std::begin(kCombiningClasses), std::end(kCombiningClasses), cp,
                             [](const CombiningClass& c, uint32_t v) { return c.cp < v; });
  return (it != std::end(kCombiningClasses) && it->cp == cp) ? it->ccc : 0;
}

const Decomposition* find_decomposition(uint32_t cp) {
  if (cp < 0xC0) return nullptr;
  auto it = std::lower_bound(std::begin(kDecompositions), std::end(kDecompositions), cp,
                             [](const Decomposition& d, uint32_t v) { return d.cp < v; });
  return (it != std::end(kDecompositions) && it->cp == cp) ? &*it : nullptr;
}

void decompose(uint32_t cp, std::vector<uint32_t>* out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* d = find_decomposition(cp);
  if (d == nullptr) {
    out->push_back(cp);
    return;
  }
  decompose(d->first, out);
  if (d->second != 0) decompose(d->second, out);
}

const std::unordered_map<uint64_t, uint32_t>& composition_map() {
  static const auto* map = [] {
    auto* m = new std::unordered_map<uint64_t, uint32_t>();
    for (const Decomposition& d : kDecompositions) {
      if (d.composes) (*m)[(uint64_t{d.first} << 32) | d.second] = d.cp;
    }
    return m;
  }();
  return *map;
}

// Returns the primary composite of (a, b), or 0.
uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto& m = composition_map();
  auto it = m.find((uint64_t{a} << 32) | b);
  return it == m.end() ? 0 : it->second;
}

void nfc_valid_run(std::string_view s, std::string* out) {
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    i += decode_utf8(s, i, &cp);
    decompose(cp, &cps);
  }
  // Canonical ordering: stable sort each run of non-starters by class.
  for (size_t i = 0; i < cps.size();) {
    if (ccc_of(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && ccc_of(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](uint32_t a, uint32_t b) { return ccc_of(a) < ccc_of(b); });
    i = j;
  }
  // Canonical composition (UAX #15 reference algorithm).
  if (cps.empty()) return;
  size_t starter_pos = 0;
  uint32_t starter_ch = cps[0];
  int last_class = ccc_of(starter_ch) == 0 ? 0 : 256;  // 256: nothing composes with it
  size_t w = 1;
  for (size_t r = 1; r < cps.size(); ++r) {
    const uint32_t ch = cps[r];
    const int cls = ccc_of(ch);
    const uint32_t comp = compose_pair(starter_ch, ch);
    if (comp != 0 && (last_class < cls || last_class == 0)) {
      cps[starter_pos] = comp;
      starter_ch = comp;
      continue;
    }
    if (cls == 0) {
      starter_pos = w;
      starter_ch = ch;
    }
    last_class = cls;
    cps[w++] = ch;
  }
  cps.resize(w);
  for (uint32_t cp : cps) append_utf8(cp, out);
}

}  // namespace

size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp) {
  auto [n, complete] = scan(s, i);
  if (!complete) {
    *cp = kInvalidCodePoint;
    return 1;
  }
  const auto* p = reinterpret_cast<const uint8_t*>(s.data() + i);
  switch (n) {
    case 1:
      *cp = p[0];
      break;
    case 2:
      *cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
      break;
    case 3:
      *cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
      break;
    default:
      *cp =
          ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
  }
  return n;
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto [n, complete] = scan(s, i);
    if (!complete) return false;
    i += n;
  }
  return true;
}

std::string nfc(std::string_view s) {
  // Fast path: nothing at or above U+0300 (lead byte 0xCC) can change under NFC.
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<uint8_t>(c) < 0xCC; }) &&
      is_valid_utf8(s)) {
    return std::string(s);
  }
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size()) {
      auto [n, complete] = scan(s, j);
      if (!complete) break;
      j += n;
    }
    nfc_valid_run(s.substr(i, j - i), &out);
    // Copy invalid bytes through until the next valid character.
    while (j < s.size() && !scan(s, j).second) out.push_back(s[j++]);
    i = j;
  }
  return out;
}

namespace {
struct ByteMaps {
  std::array<std::string, 256> to_unicode;
  std::unordered_map<uint32_t, uint8_t> to_byte;
};
const ByteMaps& byte_maps() {
  static const ByteMaps* maps = [] {
    auto* m = new ByteMaps();
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(cp, &m->to_unicode[b]);
      m->to_byte[cp] = static_cast<uint8_t>(b);
    }
    return m;
  }();
  return *maps;
}
}  // namespace

std::string_view byte_to_unicode(uint8_t b) { return byte_maps().to_unicode[b]; }

int unicode_to_byte(uint32_t cp) {
  const auto& m = byte_maps().to_byte;
  auto it = m.find(cp);
  return it == m.end() ? -1 : it->second;
}

size_t sanitize_utf8(std::string_view in, bool final, std::string* out) {
  size_t i = 0;
  while (i < in.size()) {
    auto [n, complete] = scan(in, i);
    if (complete) {
      out->append(in.substr(i, n));
      i += n;
      continue;
    }
    if (n > 0 && i + n == in.size() && !final) break;  // may still complete
    out->append("\xEF\xBF\xBD");
    i += std::max<size_t>(n, 1);
  }
  return i;
}

}  // namespace tandem::unicode
