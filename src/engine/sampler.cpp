#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

namespace tandem {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

Status SamplingParams::validate() const {
  if (!(temperature >= 0.0f && temperature <= 100.0f))
    return invalid_argument("temperature must be in [0, 100], got " + std::to_string(temperature));
  if (top_k < 0) return invalid_argument("top_k must be >= 0, got " + std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f))
    return invalid_argument("top_p must be in (0, 1], got " + std::to_string(top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f))
    return invalid_argument("min_p must be in [0, 1], got " + std::to_string(min_p));
  if (!(repetition_penalty > 0.0f && repetition_penalty <= 10.0f))
    return invalid_argument("repetition_penalty must be in (0, 10], got " +
                            std::to_string(repetition_penalty));
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    return invalid_argument("presence_penalty must be in [-2, 2], got " + std::to_string(presence_penalty));
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    return invalid_argument("frequency_penalty must be in [-2, 2], got " +
                            std::to_string(frequency_penalty));
  if (penalty_last_n < -1) return invalid_argument("penalty_last_n must be >= -1");
  return ok_status();
}

double counter_uniform(uint64_t seed, uint64_t stream, uint64_t position) {
  uint64_t h = splitmix64(seed ^ 0x243F6A8885A308D3ULL);
  h = splitmix64(h ^ stream);
  h = splitmix64(h ^ position);
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // 53 bits
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history,
                        int64_t position) {
  const SamplingParams& p = params_;
  const int32_t n = static_cast<int32_t>(logits.size());
  work_.assign(logits.begin(), logits.end());

  // Penalties over the recent history.
  const bool any_penalty =
      p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
  if (any_penalty && !history.empty() && p.penalty_last_n != 0) {
    size_t start = 0;
    if (p.penalty_last_n > 0 && history.size() > static_cast<size_t>(p.penalty_last_n))
      start = history.size() - static_cast<size_t>(p.penalty_last_n);
    std::unordered_map<int32_t, int32_t> counts;
    for (size_t i = start; i < history.size(); ++i) counts[history[i]]++;
    for (const auto& [tok, cnt] : counts) {
      if (tok < 0 || tok >= n) continue;
      float& l = work_[static_cast<size_t>(tok)];
      if (p.repetition_penalty != 1.0f) l = l > 0 ? l / p.repetition_penalty : l * p.repetition_penalty;
      l -= static_cast<float>(cnt) * p.frequency_penalty + p.presence_penalty;
    }
  }

  if (p.temperature == 0.0f) {
    // Greedy; ties go to the lowest id.
    int32_t best = 0;
    for (int32_t i = 1; i < n; ++i)
      if (work_[static_cast<size_t>(i)] > work_[static_cast<size_t>(best)]) best = i;
    return best;
  }

  // Candidates sorted by logit (desc), id (asc): a total order, so the result
  // never depends on sort stability.
  idx_.resize(static_cast<size_t>(n));
  std::iota(idx_.begin(), idx_.end(), 0);
  auto cmp = [&](int32_t a, int32_t b) {
    const float la = work_[static_cast<size_t>(a)], lb = work_[static_cast<size_t>(b)];
    return la != lb ? la > lb : a < b;
  };
  size_t keep = static_cast<size_t>(n);
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < keep) {
    keep = static_cast<size_t>(p.top_k);
    std::partial_sort(idx_.begin(), idx_.begin() + static_cast<long>(keep), idx_.end(), cmp);
  } else {
    std::sort(idx_.begin(), idx_.end(), cmp);
  }
  // Softmax at temperature over the kept candidates, in double.
  std::vector<double> probs(keep);
  const double inv_t = 1.0 / static_cast<double>(p.temperature);
  const double mx = work_[static_cast<size_t>(idx_[0])];
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((work_[static_cast<size_t>(idx_[i])] - mx) * inv_t);
    sum += probs[i];
  }
  for (double& x : probs) x /= sum;
  // min-p: drop tokens below min_p * p(max).
  if (p.min_p > 0.0f) {
    const double floor = static_cast<double>(p.min_p) * probs[0];
    size_t k = 1;
    while (k < keep && probs[k] >= floor) ++k;
    keep = k;
  }
  // top-p: smallest prefix with mass >= top_p.
  if (p.top_p < 1.0f) {
    double cum = 0;
    size_t k = 0;
    while (k < keep) {
      cum += probs[k++];
      if (cum >= static_cast<double>(p.top_p)) break;
    }
    keep = std::max<size_t>(1, k);
  }
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += probs[i];
  const double u = counter_uniform(p.seed, stream_, static_cast<uint64_t>(position)) * mass;
  double cum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cum += probs[i];
    if (u < cum) return idx_[i];
  }
  return idx_[keep - 1];
}

void log_softmax(std::span<const float> logits, std::vector<double>& out) {
  out.resize(logits.size());
  if (logits.empty()) return;
  double mx = logits[0];
  for (float l : logits) mx = std::max(mx, static_cast<double>(l));
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - mx);
  const double lse = mx + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

}  // namespace tandem
