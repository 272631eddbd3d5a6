// Steps since an engine's last prompt chunk, as the planner's cost model
// charges them (plan::Efficiency::after_prompt_s): a CPU engine's prompt
// GEMMs evict the decode path's working set, and the decode steps after them
// pay to fetch it back. Shared by the engine profile, the fidelity replay and
// the simulator, so all three count the same way.
#pragma once

#include <cstdint>

namespace tandem {

class AfterPromptCounter {
 public:
  // Call once per step, in order: returns 0 for a step with a prompt chunk
  // (or any step before the first one), else k for the k-th decode-only step
  // after the last step with a prompt chunk.
  int64_t step(bool has_prompt_chunk) {
    const int64_t k = has_prompt_chunk ? 0 : since_;
    since_ = has_prompt_chunk ? 1 : since_ > 0 ? since_ + 1 : 0;
    return k;
  }

 private:
  int64_t since_ = 0;  // what the next decode-only step returns; 0 before any prompt
};

}  // namespace tandem
