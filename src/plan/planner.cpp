#include "plan/planner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "plan/svg.h"

namespace tandem::plan {

std::string Candidate::hardware() const {
  if (colocated || hw_prefill == hw_decode) return hw_prefill;
  return hw_prefill + "+" + hw_decode;
}

namespace {

const HardwareSpec* hw_by_name(const PlanOptions& o, const std::string& name) {
  for (const HardwareSpec& h : o.hardware)
    if (h.name == name) return &h;
  return nullptr;
}

SimConfig make_config(const PlanOptions& o, const Candidate& c) {
  SimConfig s;
  s.model = o.model;
  s.slo = o.slo;
  s.block_size = o.block_size;
  s.decode_stride = o.decode_stride;
  s.keep_records = false;
  s.colocated = c.colocated;
  auto pool = [&](const std::string& hw, int tp, int n, Role role) {
    PoolSpec p;
    p.hardware = *hw_by_name(o, hw);
    p.tp = tp;
    p.instances = n;
    p.eff = o.eff;
    p.sched = default_sched(role);
    return p;
  };
  if (c.colocated) {
    s.mixed = pool(c.hw_prefill, c.tp_prefill, c.prefill, Role::kMixed);
  } else {
    s.prefill = pool(c.hw_prefill, c.tp_prefill, c.prefill, Role::kPrefill);
    s.decode = pool(c.hw_decode, c.tp_decode, c.decode, Role::kDecode);
  }
  return s;
}

void fill(Candidate& c, const SimResult& r) {
  c.slo_met = r.slo_met;
  c.stopped_early = r.stopped_early;
  c.slo_attainment = r.slo_attainment;
  c.goodput_rps = r.goodput_rps;
  c.cost_per_hour = r.cost_per_hour;
  c.cost_per_mtok = r.cost_per_mtok;
  c.ttft_p90 = r.ttft.p90;
  c.tpot_p90 = r.tpot.p90;
  if (!r.pools.empty()) c.util_prefill = r.pools[0].utilisation;
  if (r.pools.size() > 1) c.util_decode = r.pools[1].utilisation;
}

// Better = higher goodput per dollar; ties to the cheaper.
bool better(const Candidate& a, const Candidate& b) {
  const double ga = a.goodput_per_dollar(), gb = b.goodput_per_dollar();
  if (std::abs(ga - gb) > 1e-12 * std::max(ga, gb)) return ga > gb;
  return a.cost_per_hour < b.cost_per_hour;
}

// Searches one hardware/tp combination. Memoised evaluations, single thread.
struct ComboSearch {
  const PlanOptions& o;
  const Trace& trace;
  Candidate proto;
  std::map<std::pair<int, int>, Candidate> memo;

  const Candidate& eval(int p, int d) {
    auto key = std::make_pair(p, d);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
    Candidate c = proto;
    c.prefill = p;
    c.decode = proto.colocated ? 0 : d;
    auto r = evaluate_candidate(o, trace, c, /*stop_when_slo_lost=*/true);
    if (!r.ok()) {
      c.slo_met = false;
      c.cost_per_hour = 1e300;
      return memo.emplace(key, c).first->second;
    }
    return memo.emplace(key, *r).first->second;
  }
  bool ok(int p, int d) { return eval(p, d).slo_met; }
  bool in_budget(int p, int d) const {
    if (o.budget_per_hour <= 0) return true;
    const HardwareSpec* hp = hw_by_name(o, proto.hw_prefill);
    const HardwareSpec* hd = hw_by_name(o, proto.hw_decode);
    double cost = hp->price_per_hour * proto.tp_prefill * p + (proto.colocated ? 0 : hd->price_per_hour * proto.tp_decode * d);
    return cost <= o.budget_per_hour;
  }
  // Least x in [1, hi] with pred(x) true, given pred(hi) true and monotone.
  template <typename F>
  int least(int hi, F pred) {
    int lo = 1;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (pred(mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  void run() {
    const int G = o.max_instances;
    if (proto.colocated) {
      if (!ok(G, 0)) return;
      int n = least(G, [&](int x) { return ok(x, 0); });
      (void)n;
      return;
    }
    if (!ok(G, G)) return;
    const int p0 = least(G, [&](int x) { return ok(x, G); });
    const int d0 = least(G, [&](int x) { return ok(G, x); });
    // Staircase of minimal pairs from the corner (p0, d0): with more prefill
    // machines, fewer decode machines may do (queueing couples the pools).
    int d = d0;
    for (int p = p0; p <= std::min(G, p0 + 3); ++p) {
      while (d < G && !ok(p, d)) ++d;
      if (!ok(p, d)) break;
      while (d > 1 && ok(p, d - 1)) --d;
      if (d == d0 && p > p0) break;  // no decode machine saved by more prefill
    }
  }
};

}  // namespace

Result<Candidate> evaluate_candidate(const PlanOptions& options, const Trace& trace, Candidate c,
                                     bool stop_when_slo_lost) {
  SimConfig s = make_config(options, c);
  s.stop_when_slo_lost = stop_when_slo_lost;
  TANDEM_ASSIGN_OR_RETURN(SimResult r, simulate(s, trace));
  fill(c, r);
  return c;
}

namespace {

// Cheapest (p, d) meeting the SLO with the hardware and tp of `proto`.
std::optional<Candidate> cheapest(const PlanOptions& o, const Trace& t, const Candidate& proto, int64_t& sims) {
  ComboSearch cs{o, t, proto, {}};
  cs.run();
  sims += int64_t(cs.memo.size());
  std::optional<Candidate> best;
  for (auto& [k, c] : cs.memo)
    if (c.slo_met && cs.in_budget(c.prefill, c.decode) && (!best || c.cost_per_hour < best->cost_per_hour ||
                                                           (c.cost_per_hour == best->cost_per_hour && better(c, *best))))
      best = c;
  return best;
}

}  // namespace

Result<PlanResult> plan_cluster(const PlanOptions& o, const Trace& trace, ThreadPool* tp_pool) {
  const auto t_start = std::chrono::steady_clock::now();
  if (o.hardware.empty()) return invalid_argument("plan: no hardware to choose from");
  if (trace.requests.empty()) return invalid_argument("plan: empty trace");
  PlanResult res;

  // Hardware/tp options whose instance holds the weights.
  struct Opt {
    std::string hw;
    int tp;
  };
  std::vector<Opt> opts;
  for (const HardwareSpec& h : o.hardware)
    for (int tp : o.tps)
      if (tp <= h.max_tp && CostModel(o.model, h, tp, o.eff).fits()) opts.push_back({h.name, tp});
  if (opts.empty()) return out_of_range("plan: " + o.model.name + " fits none of the hardware at tp in the list");

  std::vector<Candidate> protos;
  for (const Opt& a : opts)
    for (const Opt& b : opts) {
      if (!o.mixed_hardware && a.hw != b.hw) continue;
      Candidate c;
      c.hw_prefill = a.hw;
      c.tp_prefill = a.tp;
      c.hw_decode = b.hw;
      c.tp_decode = b.tp;
      protos.push_back(c);
    }
  const int64_t G = o.max_instances;
  res.space = int64_t(protos.size()) * G * G;
  if (o.search_colocated)
    for (const Opt& a : opts) {
      Candidate c;
      c.colocated = true;
      c.hw_prefill = c.hw_decode = a.hw;
      c.tp_prefill = c.tp_decode = a.tp;
      protos.push_back(c);
      res.space += G;
    }

  std::vector<std::vector<Candidate>> found(protos.size());
  auto work = [&](size_t i) {
    ComboSearch cs{o, trace, protos[i], {}};
    cs.run();
    for (auto& [k, c] : cs.memo) {
      if (!cs.in_budget(c.prefill, c.decode) && c.slo_met) {
        Candidate x = c;
        x.slo_met = false;  // over budget: not a valid answer
        found[i].push_back(x);
      } else {
        found[i].push_back(c);
      }
    }
  };
  if (tp_pool && tp_pool->size() > 1) {
    tp_pool->parallel_for(protos.size(), 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) work(i);
    });
  } else {
    for (size_t i = 0; i < protos.size(); ++i) work(i);
  }
  for (auto& v : found)
    for (Candidate& c : v) {
      res.evaluated.push_back(c);
      if (!c.slo_met) continue;
      if (c.colocated) {
        if (!res.found_colocated || better(c, res.best_colocated)) res.best_colocated = c, res.found_colocated = true;
      } else {
        if (!res.found || better(c, res.best)) res.best = c, res.found = true;
      }
    }
  res.simulations = int64_t(res.evaluated.size());

  if (res.found) {
    // Goodput and cost against the prefill:decode ratio at the best total.
    const int total = res.best.prefill + res.best.decode;
    std::vector<Candidate> pts;
    for (int p = 1; p < total; ++p) {
      Candidate c = res.best;
      c.prefill = p;
      c.decode = total - p;
      pts.push_back(c);
    }
    std::vector<RatioPoint> curve(pts.size());
    auto eval_pt = [&](size_t i) {
      auto r = evaluate_candidate(o, trace, pts[i]);
      RatioPoint rp;
      rp.prefill = pts[i].prefill;
      rp.decode = pts[i].decode;
      if (r.ok()) {
        rp.goodput_rps = r->goodput_rps;
        rp.slo_attainment = r->slo_attainment;
        rp.cost_per_hour = r->cost_per_hour;
        rp.cost_per_mtok = r->cost_per_mtok;
        rp.slo_met = r->slo_met;
      }
      curve[i] = rp;
    };
    if (tp_pool && tp_pool->size() > 1)
      tp_pool->parallel_for(pts.size(), 1, [&](size_t b, size_t e) { for (size_t i = b; i < e; ++i) eval_pt(i); });
    else
      for (size_t i = 0; i < pts.size(); ++i) eval_pt(i);
    res.ratio_curve = curve;
    res.simulations += int64_t(pts.size());

    // Drift: the best proportion per time window, and what the fixed choice loses.
    if (o.windows > 0 && trace.duration_s() > 0) {
      const double w = trace.duration_s() / o.windows;
      std::vector<WindowResult> wins(size_t(o.windows));
      std::vector<int64_t> wsims(size_t(o.windows), 0);
      auto do_window = [&](size_t k) {
        WindowResult& wr = wins[k];
        TraceTransform x;
        x.start_s = double(k) * w;
        x.end_s = k + 1 == size_t(o.windows) ? trace.duration_s() + 1 : double(k + 1) * w;
        Trace sub = transform_trace(trace, x);
        wr.start_s = x.start_s;
        wr.end_s = std::min(x.end_s, trace.duration_s());
        wr.requests = int64_t(sub.requests.size());
        if (sub.requests.size() < 2) return;
        TraceStats st = trace_stats(sub);
        wr.rate = st.rate;
        wr.mean_prompt = st.mean_prompt;
        wr.mean_output = st.mean_output;
        Candidate proto = res.best;
        if (auto b = cheapest(o, sub, proto, wsims[k])) wr.best = *b;
        if (auto f = evaluate_candidate(o, sub, res.best); f.ok()) wr.fixed = *f;
        wsims[k] += 1;
        // Fixed ratio: scale k * (p, d) up until the SLO holds.
        const double frac = double(res.best.prefill) / double(res.best.prefill + res.best.decode);
        for (int n = 2; n <= 2 * o.max_instances; ++n) {
          Candidate c = res.best;
          c.prefill = std::max(1, int(std::lround(frac * n)));
          c.decode = std::max(1, n - c.prefill);
          if (c.prefill + c.decode != n) continue;
          auto r = evaluate_candidate(o, sub, c, /*stop_when_slo_lost=*/true);
          wsims[k] += 1;
          if (r.ok() && r->slo_met) {
            wr.fixed_ratio = *r;
            break;
          }
        }
      };
      if (tp_pool && tp_pool->size() > 1)
        tp_pool->parallel_for(wins.size(), 1, [&](size_t b, size_t e) { for (size_t i = b; i < e; ++i) do_window(i); });
      else
        for (size_t i = 0; i < wins.size(); ++i) do_window(i);
      res.windows = wins;
      for (int64_t s : wsims) res.simulations += s;
    }
  }
  res.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return res;
}

namespace {

nlohmann::json cand_json(const Candidate& c) {
  nlohmann::json j{{"colocated", c.colocated}, {"hardware", c.hardware()}, {"prefill", c.prefill},
                   {"decode", c.decode}, {"hardware_prefill", c.hw_prefill}, {"tp_prefill", c.tp_prefill},
                   {"slo_met", c.slo_met}, {"slo_attainment", c.slo_attainment}, {"goodput_rps", c.goodput_rps},
                   {"cost_per_hour", c.cost_per_hour}, {"cost_per_mtok", c.cost_per_mtok},
                   {"goodput_per_dollar_hour", c.goodput_per_dollar()}, {"ttft_p90_s", c.ttft_p90},
                   {"tpot_p90_s", c.tpot_p90}, {"util_prefill", c.util_prefill}};
  if (c.stopped_early) j["stopped_early"] = true;  // its figures cover only what ran before the SLO was lost
  if (!c.colocated) {
    j["hardware_decode"] = c.hw_decode;
    j["tp_decode"] = c.tp_decode;
    j["util_decode"] = c.util_decode;
  } else {
    j["instances"] = c.prefill;
  }
  return j;
}

}  // namespace

std::string plan_result_to_json(const PlanOptions& o, const PlanResult& r) {
  using nlohmann::json;
  json j;
  j["model"] = o.model.name;
  j["slo"] = {{"ttft_s", o.slo.ttft_s}, {"tpot_s", o.slo.tpot_s}, {"percentile", o.slo.percentile}};
  j["found"] = r.found;
  if (r.found) j["best"] = cand_json(r.best);
  if (r.found_colocated) j["best_colocated"] = cand_json(r.best_colocated);
  if (r.found && r.found_colocated)
    j["disaggregated_gain"] = r.best_colocated.goodput_per_dollar() > 0
                                  ? r.best.goodput_per_dollar() / r.best_colocated.goodput_per_dollar()
                                  : 0.0;
  json curve = json::array();
  for (const RatioPoint& p : r.ratio_curve)
    curve.push_back({{"prefill", p.prefill}, {"decode", p.decode}, {"goodput_rps", p.goodput_rps},
                     {"slo_attainment", p.slo_attainment}, {"slo_met", p.slo_met},
                     {"cost_per_hour", p.cost_per_hour}, {"cost_per_mtok", p.cost_per_mtok}});
  j["ratio_curve"] = curve;
  json wins = json::array();
  double cost_best = 0, cost_fixed = 0, cost_ratio = 0;
  int fixed_miss = 0;
  for (const WindowResult& w : r.windows) {
    wins.push_back({{"start_s", w.start_s}, {"end_s", w.end_s}, {"requests", w.requests}, {"rate_rps", w.rate},
                    {"mean_prompt", w.mean_prompt}, {"mean_output", w.mean_output}, {"best", cand_json(w.best)},
                    {"fixed", cand_json(w.fixed)}, {"fixed_ratio", cand_json(w.fixed_ratio)}});
    cost_best += w.best.cost_per_hour;
    cost_fixed += w.fixed.cost_per_hour;
    cost_ratio += w.fixed_ratio.cost_per_hour;
    fixed_miss += !w.fixed.slo_met;
  }
  j["windows"] = wins;
  if (!r.windows.empty())
    j["drift"] = {{"per_window_best_cost_hours", cost_best}, {"fixed_cost_hours", cost_fixed},
                  {"fixed_ratio_cost_hours", cost_ratio}, {"fixed_windows_missing_slo", fixed_miss},
                  {"note", "sums over windows of each choice's cost per hour; fixed = the whole-trace best kept all day, "
                           "fixed_ratio = its prefill:decode ratio scaled to each window's load"}};
  j["search"] = {{"space", r.space}, {"simulations", r.simulations}, {"wall_s", r.wall_s}};
  json ev = json::array();
  for (const Candidate& c : r.evaluated) ev.push_back(cand_json(c));
  j["evaluated"] = ev;
  return j.dump(2);
}

std::string ratio_plot_svg(const PlanResult& r, const std::string& title) {
  SvgChart c;
  c.title = title;
  c.x_label = "prefill : decode instances (" + r.best.hardware() + ", total " +
              std::to_string(r.best.prefill + r.best.decode) + ")";
  c.y_left_label = "goodput (requests/s within SLO)";
  c.y_right_label = "USD per million tokens";
  SvgSeries g{"goodput", {}, "#1f77b4", false};
  SvgSeries cost{"cost per Mtok", {}, "#d62728", true};
  for (const RatioPoint& p : r.ratio_curve) {
    c.x_labels.push_back(std::to_string(p.prefill) + ":" + std::to_string(p.decode));
    g.y.push_back(p.goodput_rps);
    cost.y.push_back(p.cost_per_mtok > 0 ? p.cost_per_mtok : NAN);
    c.highlight.push_back(p.slo_met);
  }
  c.series = {g, cost};
  c.highlight_label = "meets SLO";
  return render_svg(c);
}

}  // namespace tandem::plan
