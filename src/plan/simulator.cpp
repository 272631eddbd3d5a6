#include "plan/simulator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <queue>

#include <nlohmann/json.hpp>

#include "base/check.h"
#include "engine/after_prompt.h"

namespace tandem::plan {

const char* role_name(Role r) {
  switch (r) {
    case Role::kPrefill: return "prefill";
    case Role::kDecode: return "decode";
    case Role::kMixed: return "mixed";
  }
  return "?";
}

SchedulerConfig default_sched(Role role) {
  SchedulerConfig c;
  c.preemption = PreemptionMode::kRecompute;
  c.batch_reserved_tokens = 0;
  switch (role) {
    case Role::kPrefill:
      c.max_step_tokens = 8192;
      c.max_chunk_tokens = 8192;
      c.max_step_seqs = 64;
      break;
    case Role::kDecode:
      c.max_step_tokens = 1 << 30;  // transferred prompts are admitted whole
      c.max_chunk_tokens = 1 << 30;
      c.max_step_seqs = 256;
      break;
    case Role::kMixed:
      c.max_step_tokens = 2048;
      c.max_chunk_tokens = 2048;
      c.max_step_seqs = 256;
      break;
  }
  return c;
}

double percentile_of(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  size_t k = size_t(std::ceil(q * double(v.size())));
  k = std::clamp<size_t>(k, 1, v.size()) - 1;
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

Distribution distribution_of(std::vector<double> v) {
  Distribution d;
  d.n = int64_t(v.size());
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  double s = 0;
  for (double x : v) s += x;
  d.mean = s / double(v.size());
  auto at = [&](double q) {
    size_t k = size_t(std::ceil(q * double(v.size())));
    return v[std::clamp<size_t>(k, 1, v.size()) - 1];
  };
  d.p50 = at(0.5);
  d.p90 = at(0.9);
  d.p99 = at(0.99);
  d.max = v.back();
  return d;
}

namespace {

inline uint32_t mix32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return uint32_t(x);
}

// Synthetic token ids: equal Mooncake prefix ids give equal tokens, so the
// scheduler's prefix cache finds them; otherwise unique per request.
void make_prompt(const TraceRequest& r, size_t req, std::vector<int32_t>& out, int32_t extra, bool distinct) {
  out.resize(size_t(r.prompt_tokens) + size_t(extra));
  if (!distinct) {  // no prefix caching: token values are never looked at
    std::fill(out.begin(), out.end(), 0);
    return;
  }
  for (int32_t p = 0; p < r.prompt_tokens; ++p) {
    const size_t b = size_t(p / kMooncakeBlockTokens);
    uint64_t key = b < r.prefix_ids.size()
                       ? (uint64_t(r.prefix_ids[b]) << 20) ^ uint64_t(p % kMooncakeBlockTokens) ^ (1ULL << 62)
                       : (uint64_t(req) << 24) ^ uint64_t(p) ^ (1ULL << 61);
    out[size_t(p)] = int32_t(mix32(key) & 0x3fffffff);
  }
  for (int32_t e = 0; e < extra; ++e) out[size_t(r.prompt_tokens + e)] = int32_t(mix32((uint64_t(req) << 24) ^ 0xfeedULL ^ uint64_t(e)) & 0x3fffffff);
}

struct Instance {
  Role role = Role::kMixed;
  const CostModel* cost = nullptr;
  std::unique_ptr<Scheduler> sched;
  bool busy = false;
  StepPlan plan;
  std::vector<int32_t> req_of;    // SeqId -> request index (ids are 1, 2, ...)
  std::vector<int32_t> imported;  // SeqId -> prompt positions whose KV arrived by transfer
  double load = 0;                // router metric
  double nic_free_s = 0;
  double busy_s = 0;
  int64_t steps = 0;
  AfterPromptCounter after_prompt;
  int64_t step_tokens = 0;
  int64_t step_seqs = 0;
  int32_t peak_used = 0;
  std::vector<ChunkOutput> outputs;
};

struct ReqState {
  double first_s = -1;
  double last_s = -1;
  double finish_s = -1;
  double transfer_s = 0;
  int32_t emitted = 0;
  int32_t decode_inst = -1;
  bool rejected = false;
};

struct Event {
  double t;
  uint64_t order;
  int32_t kind;  // 0: step done (a = instance), 1: KV transfer done (a = request)
  int32_t a;
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : order > o.order; }
};

class Sim {
 public:
  Sim(const SimConfig& c, const Trace& t) : cfg_(c), trace_(t), stride_(std::max(1, c.decode_stride)) {
    for (const TraceRequest& r : t.requests)
      if (!r.prefix_ids.empty()) {
        trace_has_prefixes_ = true;
        break;
      }
  }
  Result<SimResult> run();

 private:
  Status add_pool(Role role, const PoolSpec& spec);
  int32_t route(Role role, const TraceRequest& r) const;
  void submit(int32_t inst, int32_t req, double now);
  void try_start(int32_t inst, double now);
  void step_done(int32_t inst, double now);
  void transfer_done(int32_t req, double now);
  void finish_request(int32_t req, double now);
  void push(double t, int32_t kind, int32_t a) { events_.push(Event{t, order_++, kind, a}); }
  void count_in_system(double now, int delta) {
    area_ += double(in_system_) * (now - last_change_);
    last_change_ = now;
    in_system_ += delta;
  }

  const SimConfig& cfg_;
  const Trace& trace_;
  std::vector<std::unique_ptr<CostModel>> costs_;  // one per pool
  std::vector<Instance> inst_;
  std::vector<int32_t> pool_of_;                   // instance -> pool index
  std::vector<Role> pool_role_;
  std::vector<const PoolSpec*> pool_spec_;
  std::vector<int32_t> prefill_, decode_, mixed_;  // instance indices by role
  std::vector<ReqState> req_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  uint64_t order_ = 0;
  int64_t n_events_ = 0;
  // stop_when_slo_lost: requests already past a bound, and how many may be.
  int64_t late_ttft_ = 0, late_tpot_ = 0, max_late_ttft_ = 0, max_late_tpot_ = 0;
  bool slo_lost_ = false;
  int64_t in_system_ = 0;
  double area_ = 0, last_change_ = 0;
  double transfer_total_ = 0;
  int64_t transfers_ = 0;
  bool trace_has_prefixes_ = false;
  int32_t stride_ = 1;
};

Status Sim::add_pool(Role role, const PoolSpec& spec) {
  if (spec.instances < 1) return invalid_argument(std::string(role_name(role)) + " pool needs >= 1 instance");
  if (spec.tp < 1 || spec.tp > spec.hardware.max_tp)
    return invalid_argument(std::string(role_name(role)) + " pool: tp " + std::to_string(spec.tp) +
                            " outside [1, " + std::to_string(spec.hardware.max_tp) + "] for " + spec.hardware.name);
  auto cm = std::make_unique<CostModel>(cfg_.model, spec.hardware, spec.tp, spec.eff);
  if (!cm->fits())
    return out_of_range(cfg_.model.name + " does not fit " + std::to_string(spec.tp) + " x " + spec.hardware.name +
                        " (weights " + std::to_string(cfg_.model.weight_bytes_total() / 1e9) + " GB)");
  SchedulerConfig sc = spec.sched;
  if (sc.n_blocks == 0) {
    sc.block_size = cfg_.block_size;
    const double blocks = std::floor(cm->kv_capacity_tokens() / double(sc.block_size));
    const double cap = double(std::numeric_limits<int32_t>::max() / 2) / double(sc.block_size);
    sc.n_blocks = int32_t(std::min(blocks, cap));
    if (sc.n_blocks < 1) return out_of_range("no room for KV on " + spec.hardware.name);
  }
  if (sc.max_chunk_tokens > (1 << 29)) sc.max_chunk_tokens = sc.n_blocks * sc.block_size;
  // Without prefix ids in the trace every prompt is unique: caching would only
  // churn the prefix index (seal, evict, unseal) without a hit.
  if (!trace_has_prefixes_) sc.prefix_caching = false;
  if (role == Role::kDecode && stride_ > 1) {
    if (sc.block_size % stride_ != 0)
      return invalid_argument("decode_stride " + std::to_string(stride_) + " must divide the block size " +
                              std::to_string(sc.block_size));
    sc.block_size /= stride_;
    if (sc.max_seq_len > 0) sc.max_seq_len /= stride_;
    if (sc.max_chunk_tokens > sc.n_blocks * sc.block_size) sc.max_chunk_tokens = sc.n_blocks * sc.block_size;
  }
  TANDEM_RETURN_IF_ERROR(sc.validate().with_context(std::string(role_name(role)) + " pool"));
  const int32_t pool = int32_t(costs_.size());
  costs_.push_back(std::move(cm));
  pool_role_.push_back(role);
  pool_spec_.push_back(&spec);
  for (int i = 0; i < spec.instances; ++i) {
    Instance in;
    in.role = role;
    in.cost = costs_.back().get();
    in.sched = std::make_unique<Scheduler>(sc);
    in.req_of.push_back(-1);
    in.imported.push_back(0);
    const int32_t idx = int32_t(inst_.size());
    inst_.push_back(std::move(in));
    pool_of_.push_back(pool);
    (role == Role::kPrefill ? prefill_ : role == Role::kDecode ? decode_ : mixed_).push_back(idx);
  }
  return ok_status();
}

int32_t Sim::route(Role role, const TraceRequest& r) const {
  const std::vector<int32_t>& cands = role == Role::kPrefill ? prefill_ : role == Role::kDecode ? decode_ : mixed_;
  (void)r;
  int32_t best = cands[0];
  double best_load = std::numeric_limits<double>::infinity();
  for (int32_t i : cands) {
    const Instance& in = inst_[size_t(i)];
    double l = in.load;
    if (role == Role::kDecode) l /= double(in.sched->config().n_blocks) * in.sched->config().block_size;
    if (l < best_load) {
      best_load = l;
      best = i;
    }
  }
  return best;
}

void Sim::submit(int32_t inst, int32_t req, double now) {
  Instance& in = inst_[size_t(inst)];
  const TraceRequest& r = trace_.requests[size_t(req)];
  SeqRequest sr;
  int32_t imported = 0;
  if (in.role == Role::kDecode && stride_ > 1) {
    // In units of stride_ tokens: the prompt, one unit for the first token.
    TraceRequest u = r;
    u.prompt_tokens = (r.prompt_tokens + stride_ - 1) / stride_;
    u.prefix_ids.clear();
    make_prompt(u, size_t(req), sr.prompt, 1, false);
    sr.max_new_tokens = (r.output_tokens - 1 + stride_ - 1) / stride_;
    imported = u.prompt_tokens;
  } else if (in.role == Role::kDecode) {
    make_prompt(r, size_t(req), sr.prompt, 1, trace_has_prefixes_);  // prompt + the first token
    sr.max_new_tokens = r.output_tokens - 1;
    imported = r.prompt_tokens;
  } else {
    make_prompt(r, size_t(req), sr.prompt, 0, trace_has_prefixes_);
    sr.max_new_tokens = in.role == Role::kPrefill ? 1 : r.output_tokens;
  }
  auto id = in.sched->submit(std::move(sr));
  if (!id.ok()) {
    req_[size_t(req)].rejected = true;
    finish_request(req, now);
    return;
  }
  TANDEM_CHECK(*id == in.req_of.size(), "scheduler ids are expected to be 1, 2, ...");
  in.req_of.push_back(req);
  in.imported.push_back(imported);
  in.load += in.role == Role::kPrefill ? double(r.prompt_tokens) : double(r.prompt_tokens + r.output_tokens);
  try_start(inst, now);
}

void Sim::try_start(int32_t inst, double now) {
  Instance& in = inst_[size_t(inst)];
  if (in.busy || !in.sched->has_work()) return;
  in.sched->schedule(in.plan);
  if (in.plan.empty()) return;  // nothing can run until something changes
  in.sched->apply(in.plan);
  for (const Preemption& p : in.plan.preempted) in.imported[size_t(p.id)] = 0;
  StepWork w;
  double dur = 0;
  if (in.role == Role::kDecode && stride_ > 1) {
    // Units: the first of the stride_ iterations also recomputes any prompt
    // units (after a preemption); every iteration decodes each sampled chunk
    // at the middle context of its unit.
    StepWork dec;
    for (const ChunkPlan& c : in.plan.chunks) {
      int32_t& imp = in.imported[size_t(c.id)];
      const int32_t begin = std::max(c.start, std::min(imp, c.start + c.len));
      const int32_t end = c.start + c.len;
      imp = 0;
      if (end - 1 > begin) w.add_chunk(int64_t(begin) * stride_, int64_t(end - 1 - begin) * stride_, false);
      if (c.sample) dec.add_chunk(int64_t(end - 1) * stride_ + stride_ / 2, 1, true);
    }
    StepWork first = dec;
    first.tokens += w.tokens;
    first.attn_positions += w.attn_positions;
    first.kv_read_tokens += w.kv_read_tokens;
    first.seqs = std::max(first.seqs, w.seqs);
    dur = in.cost->step_time(first) + double(stride_ - 1) * in.cost->step_time(dec);
    w = first;
    w.tokens += dec.tokens * (stride_ - 1);
  } else {
    bool prompt = false;
    for (const ChunkPlan& c : in.plan.chunks) {
      int32_t& imp = in.imported[size_t(c.id)];
      const int32_t begin = std::max(c.start, std::min(imp, c.start + c.len));
      w.add_chunk(begin, c.start + c.len - begin, c.sample);
      prompt |= c.start + c.len - begin > 1;
      imp = 0;  // later chunks compute
    }
    // Decode steps after a prompt chunk pay its cache warm-up (Efficiency::after_prompt_s).
    w.after_prompt = in.after_prompt.step(prompt);
    dur = in.cost->step_time(w);
  }
  in.busy = true;
  in.busy_s += dur;
  in.steps += 1;
  in.step_tokens += w.tokens;
  in.step_seqs += w.seqs;
  in.peak_used = std::max(in.peak_used, in.sched->device_blocks().n_blocks() - in.sched->device_blocks().available());
  push(now + dur, 0, inst);
}

void Sim::step_done(int32_t inst, double now) {
  Instance& in = inst_[size_t(inst)];
  in.busy = false;
  in.outputs.assign(in.plan.chunks.size(), ChunkOutput{});
  for (size_t i = 0; i < in.plan.chunks.size(); ++i) {
    const ChunkPlan& c = in.plan.chunks[i];
    if (!c.sample) continue;
    in.outputs[i].token = int32_t(mix32(c.id * 1315423911ULL + uint64_t(c.start + c.len)) & 0x3fffffff);
    const int32_t req = in.req_of[size_t(c.id)];
    ReqState& s = req_[size_t(req)];
    if (s.first_s < 0) {
      s.first_s = now;
      if (now - trace_.requests[size_t(req)].arrival_s > cfg_.slo.ttft_s && ++late_ttft_ > max_late_ttft_)
        slo_lost_ = true;
    }
    s.last_s = now;
    const int32_t out = trace_.requests[size_t(req)].output_tokens;
    s.emitted = std::min(out, s.emitted + (in.role == Role::kDecode ? stride_ : 1));
  }
  auto finished = in.sched->commit(in.plan, in.outputs);
  for (const FinishedSeq& f : finished) {
    const int32_t req = in.req_of[size_t(f.id)];
    const TraceRequest& r = trace_.requests[size_t(req)];
    if (in.role == Role::kPrefill) {
      in.load -= double(r.prompt_tokens);
      if (r.output_tokens <= 1) {
        finish_request(req, now);
      } else {
        // KV leaves over this instance's NIC, one transfer at a time.
        const double start = std::max(now, in.nic_free_s);
        const double done = start + in.cost->kv_transfer_time(r.prompt_tokens);
        in.nic_free_s = done;
        req_[size_t(req)].transfer_s = done - now;
        transfer_total_ += done - now;
        transfers_ += 1;
        push(done, 1, req);
      }
    } else {
      in.load -= double(r.prompt_tokens + r.output_tokens);
      finish_request(req, now);
    }
  }
  try_start(inst, now);
}

void Sim::transfer_done(int32_t req, double now) {
  const int32_t d = route(Role::kDecode, trace_.requests[size_t(req)]);
  req_[size_t(req)].decode_inst = d;
  submit(d, req, now);
}

void Sim::finish_request(int32_t req, double now) {
  ReqState& s = req_[size_t(req)];
  s.finish_s = now;
  const int32_t out = trace_.requests[size_t(req)].output_tokens;
  if (s.rejected) slo_lost_ = true;
  else if (out > 1 && (s.last_s - s.first_s) / double(out - 1) > cfg_.slo.tpot_s && ++late_tpot_ > max_late_tpot_)
    slo_lost_ = true;
  count_in_system(now, -1);
}

Result<SimResult> Sim::run() {
  if (cfg_.colocated) {
    TANDEM_RETURN_IF_ERROR(add_pool(Role::kMixed, cfg_.mixed));
  } else {
    TANDEM_RETURN_IF_ERROR(add_pool(Role::kPrefill, cfg_.prefill));
    TANDEM_RETURN_IF_ERROR(add_pool(Role::kDecode, cfg_.decode));
  }
  const size_t n = trace_.requests.size();
  req_.assign(n, ReqState{});
  // The SLO's percentile (nearest rank) of n values exceeds a bound once
  // n - ceil(q n) + 1 of them do.
  auto allowed_late = [&](size_t m) {
    return int64_t(m) - int64_t(std::ceil(cfg_.slo.percentile * double(m)));
  };
  size_t n_tpot = 0;
  for (const TraceRequest& r : trace_.requests) n_tpot += r.output_tokens > 1;
  max_late_ttft_ = allowed_late(n);
  max_late_tpot_ = allowed_late(n_tpot);
  size_t next = 0;
  const double t0 = n ? trace_.requests[0].arrival_s : 0;
  last_change_ = t0;
  double now = t0;
  while (next < n || !events_.empty()) {
    if (cfg_.stop_when_slo_lost && slo_lost_) break;
    const bool take_arrival = next < n && (events_.empty() || trace_.requests[next].arrival_s <= events_.top().t);
    if (take_arrival) {
      const int32_t req = int32_t(next++);
      now = trace_.requests[size_t(req)].arrival_s;
      count_in_system(now, +1);
      const Role role = cfg_.colocated ? Role::kMixed : Role::kPrefill;
      submit(route(role, trace_.requests[size_t(req)]), req, now);
    } else {
      const Event e = events_.top();
      events_.pop();
      now = e.t;
      if (e.kind == 0) step_done(e.a, now);
      else transfer_done(e.a, now);
    }
    ++n_events_;
  }

  SimResult res;
  res.n_requests = int64_t(n);
  res.events = n_events_;
  res.stopped_early = cfg_.stop_when_slo_lost && slo_lost_ && (next < n || !events_.empty());
  double end = t0;
  std::vector<double> ttft, tpot, e2e;
  int64_t ok = 0, out_tokens = 0, all_tokens = 0;
  if (cfg_.keep_records) res.records.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const TraceRequest& r = trace_.requests[i];
    const ReqState& s = req_[i];
    RequestRecord rec;
    rec.arrival_s = r.arrival_s;
    rec.prompt_tokens = r.prompt_tokens;
    rec.output_tokens = r.output_tokens;
    if (s.rejected) {
      res.n_rejected += 1;
    } else if (s.finish_s >= 0) {
      res.n_completed += 1;
      end = std::max(end, s.finish_s);
      rec.ttft_s = s.first_s - r.arrival_s;
      rec.e2e_s = s.finish_s - r.arrival_s;
      ttft.push_back(rec.ttft_s);
      e2e.push_back(rec.e2e_s);
      if (r.output_tokens > 1) {
        rec.tpot_s = (s.last_s - s.first_s) / double(r.output_tokens - 1);
        tpot.push_back(rec.tpot_s);
      }
      rec.ok = rec.ttft_s <= cfg_.slo.ttft_s && rec.tpot_s <= cfg_.slo.tpot_s;
      ok += rec.ok;
      out_tokens += s.emitted;
      all_tokens += s.emitted + r.prompt_tokens;
    }
    if (cfg_.keep_records) res.records[i] = rec;
  }
  res.ttft = distribution_of(ttft);
  res.tpot = distribution_of(tpot);
  res.e2e = distribution_of(e2e);
  res.duration_s = trace_.duration_s();
  res.makespan_s = end - t0;
  const double window = res.duration_s > 0 ? res.duration_s : std::max(res.makespan_s, 1e-9);
  res.slo_attainment = n ? double(ok) / double(n) : 1.0;
  res.goodput_rps = double(ok) / window;
  res.arrival_rate = double(n) / window;
  res.throughput_rps = res.makespan_s > 0 ? double(res.n_completed) / res.makespan_s : 0;
  res.output_tokens_per_s = res.makespan_s > 0 ? double(out_tokens) / res.makespan_s : 0;
  res.slo_met = res.n_rejected == 0 && res.n_completed == res.n_requests &&
                percentile_of(ttft, cfg_.slo.percentile) <= cfg_.slo.ttft_s &&
                percentile_of(tpot, cfg_.slo.percentile) <= cfg_.slo.tpot_s;
  res.mean_in_system = res.makespan_s > 0 ? area_ / res.makespan_s : 0;
  res.mean_kv_transfer_s = transfers_ ? transfer_total_ / double(transfers_) : 0;
  for (size_t p = 0; p < costs_.size(); ++p) {
    PoolStats ps;
    ps.role = pool_role_[p];
    ps.hardware = pool_spec_[p]->hardware.name;
    ps.tp = pool_spec_[p]->tp;
    ps.kv_capacity_tokens = costs_[p]->kv_capacity_tokens();
    double busy = 0;
    int64_t steps = 0, tok = 0, seqs = 0;
    for (size_t i = 0; i < inst_.size(); ++i) {
      if (pool_of_[i] != int32_t(p)) continue;
      const Instance& in = inst_[i];
      ps.instances += 1;
      busy += in.busy_s;
      steps += in.steps;
      tok += in.step_tokens;
      seqs += in.step_seqs;
      const SchedulerStats st = in.sched->stats();
      ps.preemptions += st.preempted_recompute + st.preempted_swap;
      ps.peak_kv_frac = std::max(ps.peak_kv_frac, double(in.peak_used) / double(in.sched->config().n_blocks));
    }
    ps.steps = steps;
    ps.utilisation = res.makespan_s > 0 ? busy / (double(ps.instances) * res.makespan_s) : 0;
    ps.mean_step_tokens = steps ? double(tok) / double(steps) : 0;
    ps.mean_step_seqs = steps ? double(seqs) / double(steps) : 0;
    res.scheduler_steps += steps;
    res.cost_per_hour += costs_[p]->price_per_hour() * ps.instances;
    res.pools.push_back(ps);
  }
  res.cost_per_mtok = all_tokens > 0 ? res.cost_per_hour * res.makespan_s / 3600.0 / (double(all_tokens) / 1e6) : 0;
  return res;
}

}  // namespace

Result<SimResult> simulate(const SimConfig& config, const Trace& trace) {
  TANDEM_RETURN_IF_ERROR(config.model.validate());
  if (trace.requests.empty()) return invalid_argument("simulate: empty trace");
  Sim sim(config, trace);
  return sim.run();
}

std::string sim_result_to_json(const SimConfig& config, const SimResult& r) {
  using nlohmann::json;
  auto dist = [](const Distribution& d) {
    return json{{"mean", d.mean}, {"p50", d.p50}, {"p90", d.p90}, {"p99", d.p99}, {"max", d.max}, {"n", d.n}};
  };
  json j;
  j["model"] = config.model.name;
  j["colocated"] = config.colocated;
  j["requests"] = r.n_requests;
  j["completed"] = r.n_completed;
  j["rejected"] = r.n_rejected;
  j["ttft_s"] = dist(r.ttft);
  j["tpot_s"] = dist(r.tpot);
  j["e2e_s"] = dist(r.e2e);
  j["slo"] = {{"ttft_s", config.slo.ttft_s}, {"tpot_s", config.slo.tpot_s}, {"percentile", config.slo.percentile}};
  j["slo_attainment"] = r.slo_attainment;
  j["slo_met"] = r.slo_met;
  j["goodput_rps"] = r.goodput_rps;
  j["throughput_rps"] = r.throughput_rps;
  j["output_tokens_per_s"] = r.output_tokens_per_s;
  j["arrival_rate_rps"] = r.arrival_rate;
  j["duration_s"] = r.duration_s;
  j["makespan_s"] = r.makespan_s;
  j["cost_per_hour"] = r.cost_per_hour;
  j["cost_per_mtok"] = r.cost_per_mtok;
  j["mean_in_system"] = r.mean_in_system;
  j["mean_kv_transfer_s"] = r.mean_kv_transfer_s;
  j["events"] = r.events;
  j["scheduler_steps"] = r.scheduler_steps;
  json pools = json::array();
  for (const PoolStats& p : r.pools)
    pools.push_back({{"role", role_name(p.role)}, {"instances", p.instances}, {"hardware", p.hardware},
                     {"tp", p.tp}, {"utilisation", p.utilisation}, {"steps", p.steps},
                     {"mean_step_tokens", p.mean_step_tokens}, {"mean_step_seqs", p.mean_step_seqs},
                     {"preemptions", p.preemptions}, {"kv_capacity_tokens", p.kv_capacity_tokens},
                     {"peak_kv_frac", p.peak_kv_frac}});
  j["pools"] = pools;
  return j.dump(2);
}

}  // namespace tandem::plan
