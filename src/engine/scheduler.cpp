#include "engine/scheduler.h"

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace tandem {

const char* seq_end_name(SeqEnd e) {
  switch (e) {
    case SeqEnd::kLength: return "length";
    case SeqEnd::kStop: return "stop";
    case SeqEnd::kContext: return "context";
    case SeqEnd::kCancelled: return "cancelled";
  }
  return "?";
}

Status SchedulerConfig::validate() const {
  if (n_blocks < 1) return invalid_argument("scheduler: n_blocks must be >= 1");
  if (block_size < 1) return invalid_argument("scheduler: block_size must be >= 1");
  if (n_host_blocks < 0) return invalid_argument("scheduler: n_host_blocks must be >= 0");
  if (max_step_tokens < 1) return invalid_argument("scheduler: max_step_tokens must be >= 1");
  if (max_step_seqs < 1) return invalid_argument("scheduler: max_step_seqs must be >= 1");
  if (max_chunk_tokens < 1) return invalid_argument("scheduler: max_chunk_tokens must be >= 1");
  if (batch_reserved_tokens < 0 || batch_reserved_tokens >= max_step_tokens)
    return invalid_argument("scheduler: batch_reserved_tokens must be in [0, max_step_tokens)");
  if (batch_aging_steps < 0) return invalid_argument("scheduler: batch_aging_steps must be >= 0");
  const int64_t capacity = static_cast<int64_t>(n_blocks) * block_size;
  if (max_seq_len < 0 || max_seq_len > capacity)
    return invalid_argument("scheduler: max_seq_len " + std::to_string(max_seq_len) +
                            " exceeds the KV capacity of " + std::to_string(capacity) +
                            " tokens; add blocks or lower it");
  return ok_status();
}

namespace {
SchedulerConfig checked(SchedulerConfig c) {
  const Status st = c.validate();
  TANDEM_CHECK(st.ok(), st.to_string());
  if (c.max_seq_len == 0) c.max_seq_len = c.n_blocks * c.block_size;
  return c;
}
}  // namespace

Scheduler::Scheduler(const SchedulerConfig& config)
    : config_(checked(config)),
      device_(config_.n_blocks, config_.block_size),
      host_(config_.n_host_blocks, config_.block_size) {}

Result<SeqId> Scheduler::submit(SeqRequest request) {
  if (request.prompt.empty()) return invalid_argument("prompt is empty");
  if (request.max_new_tokens < 1) return invalid_argument("max_new_tokens must be >= 1");
  int32_t any = 0;  // sign bit set iff some id is negative (a loop without exits vectorizes)
  for (int32_t t : request.prompt) any |= t;
  if (any < 0) return invalid_argument("prompt holds a negative token id");
  if (static_cast<int64_t>(request.prompt.size()) >= config_.max_seq_len) {
    return out_of_range("prompt has " + std::to_string(request.prompt.size()) +
                        " tokens; at most " + std::to_string(config_.max_seq_len - 1) +
                        " fit the context");
  }
  Seq s;
  s.id = next_id_++;
  s.priority = request.priority;
  s.submit_step = step_;
  s.tokens = std::move(request.prompt);
  s.prompt_len = static_cast<int32_t>(s.tokens.size());
  s.max_new_tokens = request.max_new_tokens;
  // Block hashes serve prefix caching only; without it they are never read.
  if (config_.prefix_caching) extend_block_hashes(s.tokens, config_.block_size, s.hashes);
  const SeqId id = s.id;
  seqs_.emplace(id, std::move(s));
  return id;
}

void Scheduler::release_seq(Seq& s) {
  if (s.state == SeqState::kRunning) device_.release_all(s.table);
  if (s.state == SeqState::kSwapped) host_.release_all(s.table);
  s.table.clear();
}

Status Scheduler::cancel(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return not_found("no live sequence " + std::to_string(id));
  release_seq(it->second);
  seqs_.erase(it);
  if (!in_flight_) ++version_;  // a plan not yet applied is stale; an applied one still commits
  ++counters_.cancelled;
  return ok_status();
}

const Scheduler::Seq& Scheduler::seq(SeqId id) const {
  auto it = seqs_.find(id);
  TANDEM_CHECK(it != seqs_.end(), "unknown sequence " + std::to_string(id));
  return it->second;
}

SeqState Scheduler::state(SeqId id) const { return seq(id).state; }
Priority Scheduler::priority(SeqId id) const { return seq(id).priority; }
std::span<const int32_t> Scheduler::tokens(SeqId id) const { return seq(id).tokens; }
int32_t Scheduler::prompt_len(SeqId id) const { return seq(id).prompt_len; }
int32_t Scheduler::num_computed(SeqId id) const { return seq(id).num_computed; }
std::span<const BlockId> Scheduler::block_table(SeqId id) const { return seq(id).table; }

int Scheduler::rank_class(const Seq& s) const {
  if (s.priority == Priority::kInteractive) return 0;
  return step_ - s.submit_step >= config_.batch_aging_steps ? 0 : 1;
}

// ---------------------------------------------------------------------------
// Planning. Works on a shadow of the device allocator: counts of available
// blocks and pending ref-count changes, never the allocator itself. apply()
// then performs, in this order, all preemptions (releases), all prefix takes,
// all allocations, which is the order the shadow's arithmetic assumes.

class Scheduler::Planner {
 public:
  Planner(const Scheduler& s, StepPlan& plan)
      : s_(s),
        cfg_(s.config_),
        plan_(plan),
        order_(s.order_scratch_),
        done_(s.done_scratch_),
        avail_(s.device_.available()),
        host_avail_(s.host_.available()) {}

  void run() {
    plan_.preempted.clear();
    plan_.chunks.clear();
    plan_.n_tokens = 0;
    plan_.swap_out.clear();
    plan_.swap_in.clear();
    plan_.version = s_.version_;
    // By rank: class 0 then class 1, each in submit (id) order.
    order_.clear();
    bool any_batch = false;
    for (const auto& [id, seq] : s_.seqs_) {
      if (s_.rank_class(seq) == 0) order_.push_back(&seq);
      else any_batch = true;
    }
    if (any_batch)
      for (const auto& [id, seq] : s_.seqs_)
        if (s_.rank_class(seq) == 1) order_.push_back(&seq);
    done_.assign(order_.size(), 0);
    plan_.chunks.reserve(std::min(order_.size(), static_cast<size_t>(cfg_.max_step_seqs)));

    budget_ = cfg_.max_step_tokens;
    seqs_left_ = cfg_.max_step_seqs;
    bool batch_work = false;
    for (const Seq* q : order_) {
      batch_work |= s_.rank_class(*q) == 1;
      if (q->state != SeqState::kRunning) continue;
      if (remaining(*q) == 1) ++decodes_pending_;
      if (cfg_.prefix_caching)
        for (size_t i = q->n_sealed; i < q->hashes.size(); ++i) pending_.insert(q->hashes[i]);
    }
    interactive_left_ = budget_ - (batch_work ? cfg_.batch_reserved_tokens : 0);

    bool admission_blocked = false;
    for (size_t pos = 0; pos < order_.size(); ++pos) {
      if (done_[pos]) continue;  // preempted by a higher-ranked sequence
      const Seq& q = *order_[pos];
      const int cls = s_.rank_class(q);
      const int32_t rem = remaining(q);
      if (q.state == SeqState::kRunning && rem == 1) --decodes_pending_;
      if (seqs_left_ == 0) continue;
      const int32_t cap = cls == 0 ? std::min(budget_, interactive_left_) : budget_;
      if (cap <= 0) continue;
      // Prompt chunks leave one token per lower-ranked running decode.
      const int32_t chunk_cap =
          std::min(cfg_.max_chunk_tokens, cap - std::min(decodes_pending_, seqs_left_ - 1));

      ChunkPlan c;
      c.id = q.id;
      c.start = q.num_computed;
      if (q.state == SeqState::kRunning) {
        c.len = rem == 1 ? 1 : std::min(rem, chunk_cap);
        if (c.len <= 0) continue;
        int32_t need = s_.blocks_for(c.start + c.len) - static_cast<int32_t>(q.table.size());
        if (!make_room(need, pos)) {
          if (rem == 1) continue;  // stalls this step; keeps its blocks
          const int32_t fit =
              (static_cast<int32_t>(q.table.size()) + avail_) * cfg_.block_size - c.start;
          c.len = std::min(c.len, fit);
          if (c.len <= 0) continue;
          need = s_.blocks_for(c.start + c.len) - static_cast<int32_t>(q.table.size());
        }
        avail_ -= std::max(need, 0);
      } else if (admission_blocked) {
        continue;
      } else if (q.state == SeqState::kSwapped) {
        c.len = rem == 1 ? 1 : std::min(rem, chunk_cap);
        if (c.len <= 0) continue;
        c.swap_in = true;
        const int32_t need =
            std::max(static_cast<int32_t>(q.table.size()), s_.blocks_for(c.start + c.len));
        if (!make_room(need, pos)) {
          admission_blocked = true;
          continue;
        }
        avail_ -= need;
      } else {  // waiting
        std::vector<BlockId> hit;
        const size_t max_match = static_cast<size_t>(q.tokens.size() - 1) / cfg_.block_size;
        if (cfg_.prefix_caching) {
          hit = s_.device_.match_prefix(std::span<const BlockHash>(q.hashes).first(max_match),
                                        q.tokens);
          // Its next block is being computed by a running sequence: wait for it.
          if (hit.size() < max_match && pending_.count(q.hashes[hit.size()])) continue;
        }
        const int32_t n_hit = static_cast<int32_t>(hit.size());
        c.start = n_hit * cfg_.block_size;
        c.len = std::min(static_cast<int32_t>(q.tokens.size()) - c.start, chunk_cap);
        if (c.len <= 0) continue;
        // Blocks for the whole prompt, counting cached prefix blocks it revives.
        const auto need_total = [&] {
          int32_t revive = 0;
          for (BlockId b : hit) revive += ref(b) == 0;
          return revive + s_.blocks_for(static_cast<int32_t>(q.tokens.size())) - n_hit;
        };
        if (!make_room(need_total, pos)) {
          admission_blocked = true;
          continue;
        }
        for (BlockId b : hit) take(b);
        avail_ -= s_.blocks_for(c.start + c.len) - n_hit;
        c.admit = true;
        c.prefix_blocks = std::move(hit);
        if (cfg_.prefix_caching)
          for (size_t i = static_cast<size_t>(n_hit); i < q.hashes.size(); ++i)
            pending_.insert(q.hashes[i]);
      }
      TANDEM_CHECK(avail_ >= 0, "planner: shadow allocator went negative");
      c.sample = c.start + c.len == static_cast<int32_t>(q.tokens.size());
      budget_ -= c.len;
      if (cls == 0) interactive_left_ -= c.len;
      --seqs_left_;
      done_[pos] = kScheduled;
      plan_.n_tokens += c.len;
      plan_.chunks.push_back(std::move(c));
    }
  }

 private:
  static constexpr char kScheduled = 1;
  static constexpr char kPreempted = 2;

  static int32_t remaining(const Seq& q) {
    return static_cast<int32_t>(q.tokens.size()) - q.num_computed;
  }
  int32_t ref(BlockId b) const {
    auto it = delta_.find(b);
    return s_.device_.ref_count(b) + (it == delta_.end() ? 0 : it->second);
  }
  void take(BlockId b) {
    if (ref(b) == 0) --avail_;
    ++delta_[b];
  }
  void release(const std::vector<BlockId>& table) {
    for (BlockId b : table) {
      if (ref(b) == 1) ++avail_;
      --delta_[b];
    }
  }

  // Preempts running sequences ranked below `pos`, lowest first, until
  // `need` blocks are available. On failure undoes everything, returns false.
  bool make_room(int32_t need, size_t pos) {
    return make_room([need] { return need; }, pos);
  }
  // `need` is re-evaluated after each preemption: freeing a victim's blocks
  // can turn a prefix block the caller will take from held into cached.
  template <typename Need>
  bool make_room(const Need& need, size_t pos) {
    if (avail_ >= need()) return true;
    const auto saved_delta = delta_;
    const int32_t saved_avail = avail_, saved_host = host_avail_, saved_decodes = decodes_pending_;
    const size_t saved_n = plan_.preempted.size();
    std::vector<size_t> victims;
    for (size_t v = order_.size(); v-- > pos + 1 && avail_ < need();) {
      const Seq& q = *order_[v];
      if (done_[v] || q.state != SeqState::kRunning) continue;
      Preemption p{q.id, PreemptionMode::kRecompute};
      const int32_t n = static_cast<int32_t>(q.table.size());
      if (cfg_.preemption == PreemptionMode::kSwap && n <= host_avail_) {
        p.mode = PreemptionMode::kSwap;
        host_avail_ -= n;
      }
      release(q.table);
      if (remaining(q) == 1) --decodes_pending_;
      done_[v] = kPreempted;
      victims.push_back(v);
      plan_.preempted.push_back(p);
    }
    if (avail_ >= need()) return true;
    delta_ = saved_delta;
    avail_ = saved_avail;
    host_avail_ = saved_host;
    decodes_pending_ = saved_decodes;
    plan_.preempted.resize(saved_n);
    for (size_t v : victims) done_[v] = 0;
    return false;
  }

  const Scheduler& s_;
  const SchedulerConfig& cfg_;
  StepPlan& plan_;
  std::vector<const Seq*>& order_;  // live sequences by rank
  std::vector<char>& done_;         // per order_ entry: 0, kScheduled, kPreempted
  int32_t avail_;                  // device blocks available after the plan so far
  int32_t host_avail_;
  std::unordered_map<BlockId, int32_t> delta_;  // planned ref-count changes
  std::unordered_set<BlockHash> pending_;       // full blocks running sequences will seal
  int32_t budget_ = 0;
  int32_t interactive_left_ = 0;
  int32_t seqs_left_ = 0;
  int32_t decodes_pending_ = 0;  // running decodes not yet visited
};

StepPlan Scheduler::schedule() const {
  StepPlan plan;
  schedule(plan);
  return plan;
}

void Scheduler::schedule(StepPlan& plan) const {
  TANDEM_CHECK(!in_flight_, "schedule() between apply() and commit()");
  Planner(*this, plan).run();
}

void Scheduler::apply(StepPlan& plan) {
  TANDEM_CHECK(!in_flight_, "apply() twice without commit()");
  TANDEM_CHECK(plan.version == version_, "apply(): the plan is stale (state changed since schedule())");
  plan.swap_out.clear();
  plan.swap_in.clear();
  for (const Preemption& p : plan.preempted) {
    Seq& s = seqs_.at(p.id);
    TANDEM_CHECK(s.state == SeqState::kRunning, "preempting a sequence that is not running");
    if (p.mode == PreemptionMode::kSwap) {
      std::vector<BlockId> host_table;
      const Status st = host_.allocate(static_cast<int32_t>(s.table.size()), host_table);
      TANDEM_CHECK(st.ok(), "apply: " + st.to_string());
      for (size_t i = 0; i < s.table.size(); ++i) plan.swap_out.push_back({s.table[i], host_table[i]});
      device_.release_all(s.table);
      s.table = std::move(host_table);
      s.state = SeqState::kSwapped;
      ++counters_.preempted_swap;
    } else {
      device_.release_all(s.table);
      s.table.clear();
      s.num_computed = 0;
      s.state = SeqState::kWaiting;
      ++counters_.preempted_recompute;
    }
    s.n_sealed = 0;
  }
  for (const ChunkPlan& c : plan.chunks) {
    if (!c.admit) continue;
    Seq& s = seqs_.at(c.id);
    TANDEM_CHECK(s.state == SeqState::kWaiting && s.table.empty(), "admitting a sequence twice");
    for (BlockId b : c.prefix_blocks) device_.acquire(b);
    s.table = c.prefix_blocks;
    s.num_computed = c.start;
    s.n_sealed = c.prefix_blocks.size();
    device_.record_prefix_query(static_cast<int64_t>(s.tokens.size()), c.start);
  }
  for (const ChunkPlan& c : plan.chunks) {
    Seq& s = seqs_.at(c.id);
    if (c.swap_in) {
      TANDEM_CHECK(s.state == SeqState::kSwapped, "swapping in a sequence that is not swapped");
      std::vector<BlockId> dev;
      const Status st = device_.allocate(static_cast<int32_t>(s.table.size()), dev);
      TANDEM_CHECK(st.ok(), "apply: " + st.to_string());
      for (size_t i = 0; i < s.table.size(); ++i) plan.swap_in.push_back({s.table[i], dev[i]});
      host_.release_all(s.table);
      s.table = std::move(dev);
      s.n_sealed = 0;  // re-sealed at commit, once the copies have landed
    }
    TANDEM_CHECK(c.start == s.num_computed && c.len > 0, "apply: chunk does not continue the sequence");
    const int32_t need = blocks_for(c.start + c.len) - static_cast<int32_t>(s.table.size());
    if (need > 0) {
      const Status st = device_.allocate(need, s.table);
      TANDEM_CHECK(st.ok(), "apply: " + st.to_string());
    }
    s.state = SeqState::kRunning;
  }
  in_flight_ = true;
  ++version_;
  ++step_;
  ++counters_.steps;
  plan.version = version_;
}

void Scheduler::seal_computed(Seq& s) {
  const size_t full = static_cast<size_t>(s.num_computed / config_.block_size);
  const size_t bs = static_cast<size_t>(config_.block_size);
  for (size_t i = s.n_sealed; i < full; ++i) {
    if (device_.is_sealed(s.table[i])) continue;
    device_.seal(s.table[i], i == 0 ? kRootBlockHash : s.hashes[i - 1], s.hashes[i],
                 std::span<const int32_t>(s.tokens).subspan(i * bs, bs));
  }
  s.n_sealed = std::max(s.n_sealed, full);
}

std::vector<FinishedSeq> Scheduler::commit(const StepPlan& plan, std::span<const ChunkOutput> outputs) {
  TANDEM_CHECK(in_flight_ && plan.version == version_, "commit() without the matching apply()");
  TANDEM_CHECK(outputs.size() == plan.chunks.size(), "commit(): one output per chunk");
  in_flight_ = false;
  ++version_;
  std::vector<FinishedSeq> finished;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const ChunkPlan& c = plan.chunks[i];
    auto it = seqs_.find(c.id);
    if (it == seqs_.end()) continue;  // cancelled while in flight
    Seq& s = it->second;
    s.num_computed = c.start + c.len;
    if (config_.prefix_caching) seal_computed(s);
    if (!c.sample) continue;
    TANDEM_CHECK(outputs[i].token >= 0, "commit(): a sampled chunk needs a token");
    s.tokens.push_back(outputs[i].token);
    if (config_.prefix_caching) extend_block_hashes(s.tokens, config_.block_size, s.hashes);
    const int32_t generated = static_cast<int32_t>(s.tokens.size()) - s.prompt_len;
    std::optional<SeqEnd> end;
    if (outputs[i].stop) end = SeqEnd::kStop;
    else if (generated >= s.max_new_tokens) end = SeqEnd::kLength;
    else if (static_cast<int32_t>(s.tokens.size()) >= config_.max_seq_len) end = SeqEnd::kContext;
    if (!end) continue;
    release_seq(s);
    finished.push_back({s.id, *end});
    seqs_.erase(it);
    ++counters_.finished;
  }
  return finished;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats st = counters_;
  for (const auto& [id, s] : seqs_) {
    st.waiting += s.state == SeqState::kWaiting;
    st.running += s.state == SeqState::kRunning;
    st.swapped += s.state == SeqState::kSwapped;
  }
  st.device = device_.stats();
  st.host = host_.stats();
  return st;
}

Status Scheduler::check_invariants() const {
  TANDEM_RETURN_IF_ERROR(device_.check_invariants());
  TANDEM_RETURN_IF_ERROR(host_.check_invariants());
  std::vector<int32_t> dev_refs(static_cast<size_t>(device_.n_blocks()), 0);
  std::vector<int32_t> host_refs(static_cast<size_t>(host_.n_blocks()), 0);
  for (const auto& [id, s] : seqs_) {
    const std::string name = "sequence " + std::to_string(id);
    const int32_t len = static_cast<int32_t>(s.tokens.size());
    if (config_.prefix_caching && s.hashes.size() != s.tokens.size() / static_cast<size_t>(config_.block_size))
      return internal_error(name + ": block hashes out of date");
    if (len - s.prompt_len >= s.max_new_tokens || len >= config_.max_seq_len)
      return internal_error(name + ": should have finished");
    if (s.state == SeqState::kWaiting) {
      if (!s.table.empty() || s.num_computed != 0) return internal_error(name + ": waiting with KV");
      continue;
    }
    if (s.num_computed >= len) return internal_error(name + ": computed past its last token");
    const bool exact = !in_flight_;
    const size_t want = static_cast<size_t>(blocks_for(s.num_computed));
    if (exact ? s.table.size() != want : s.table.size() < want)
      return internal_error(name + ": table has " + std::to_string(s.table.size()) + " blocks for " +
                            std::to_string(s.num_computed) + " positions");
    auto& refs = s.state == SeqState::kRunning ? dev_refs : host_refs;
    for (size_t i = 0; i < s.table.size(); ++i) {
      const BlockId b = s.table[i];
      ++refs[static_cast<size_t>(b)];
      if (s.state == SeqState::kRunning && device_.is_sealed(b) &&
          (i >= s.hashes.size() || device_.hash_of(b) != s.hashes[i]))
        return internal_error(name + ": block " + std::to_string(b) + " at " + std::to_string(i) +
                              " holds another prefix");
    }
  }
  for (BlockId b = 0; b < device_.n_blocks(); ++b)
    if (device_.ref_count(b) != dev_refs[static_cast<size_t>(b)])
      return internal_error("device block " + std::to_string(b) + " has ref " +
                            std::to_string(device_.ref_count(b)) + ", tables hold it " +
                            std::to_string(dev_refs[static_cast<size_t>(b)]) + " times");
  for (BlockId b = 0; b < host_.n_blocks(); ++b)
    if (host_.ref_count(b) != host_refs[static_cast<size_t>(b)])
      return internal_error("host block " + std::to_string(b) + " ref count mismatch");
  return ok_status();
}

}  // namespace tandem
