// The model we ship (models/tiny-kjv) against PyTorch: logits, greedy tokens,
// held-out perplexity, and the same greedy text from safetensors and GGUF.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cmath>

#include "engine/generator.h"
#include "engine/model_loader.h"
#include "test_util.h"

namespace tandem {
namespace {

using testing::source_dir;
using testing::testdata_dir;

std::string kjv_dir() { return source_dir() + "/models/tiny-kjv"; }

TEST(ShippedModelTest, LogitsAndGreedyMatchPyTorch) {
  testing::RefDump ref;
  std::string err;
  ASSERT_TRUE(testing::read_ref(testdata_dir() + "/ref/tiny-kjv", ref, err)) << err;
  ThreadPool pool(2);
  for (const std::string& path : {kjv_dir(), kjv_dir() + "/tiny-kjv-f16.gguf"}) {
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    for (const auto& c : ref.cases) {
      const int32_t bs = 16, total = static_cast<int32_t>(c.tokens.size() + c.greedy.size());
      const int32_t nb = (total + bs - 1) / bs;
      KvCache cache((*m)->config(), nb, bs);
      std::vector<int32_t> table(static_cast<size_t>(nb));
      for (int32_t i = 0; i < nb; ++i) table[static_cast<size_t>(i)] = i;
      std::vector<int32_t> seq = c.tokens;
      SeqChunk ch{seq, 0, table, true};
      std::vector<float> lg;
      ForwardScratch s;
      ASSERT_TRUE((*m)->forward(std::span<const SeqChunk>(&ch, 1), cache, lg, s, &pool).ok());
      double worst = 0;
      for (size_t p = 0; p < c.tokens.size(); ++p) {
        double num = 0, den = 0;
        for (int64_t v = 0; v < ref.vocab; ++v) {
          const size_t i = p * static_cast<size_t>(ref.vocab) + static_cast<size_t>(v);
          num = std::max(num, std::fabs(double(lg[i]) - c.logits[i]));
          den = std::max(den, std::fabs(double(c.logits[i])));
        }
        worst = std::max(worst, num / den);
      }
      EXPECT_LT(worst, 1e-4) << path;
      // Greedy with the KV cache, one token per step.
      std::vector<int32_t> out;
      const float* last = lg.data() + (c.tokens.size() - 1) * static_cast<size_t>(ref.vocab);
      std::vector<float> cur(last, last + ref.vocab);
      for (size_t i = 0; i < c.greedy.size(); ++i) {
        const int32_t tok = static_cast<int32_t>(std::max_element(cur.begin(), cur.end()) - cur.begin());
        out.push_back(tok);
        seq.push_back(tok);
        SeqChunk d{std::span<const int32_t>(&seq.back(), 1), static_cast<int32_t>(seq.size()) - 1, table, false};
        ASSERT_TRUE((*m)->forward(std::span<const SeqChunk>(&d, 1), cache, cur, s, &pool).ok());
      }
      EXPECT_EQ(out, c.greedy) << path;
    }
  }
}

// A prefill long enough that the row ops (RMSNorm, RoPE and the KV store,
// SwiGLU, residual adds) are split over the pool: the logits must be bitwise
// the same with 1, 2 and 3 threads. ForwardTimes, when given, gets every op
// of the pass and nothing more than its wall time.
TEST(ShippedModelTest, PrefillIsThreadCountInvariantAndTimedByOp) {
  auto m = Model::load(kjv_dir());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const int32_t n = 200, bs = 16, nb = (n + bs - 1) / bs;
  std::vector<int32_t> tokens(static_cast<size_t>(n)), table(static_cast<size_t>(nb));
  for (int32_t i = 0; i < n; ++i) tokens[static_cast<size_t>(i)] = (i * 37 + 11) % (*m)->config().vocab_size;
  for (int32_t i = 0; i < nb; ++i) table[static_cast<size_t>(i)] = i;
  std::vector<std::vector<float>> logits;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    KvCache cache((*m)->config(), nb, bs);
    SeqChunk ch{tokens, 0, table, true};
    ForwardScratch s;
    ForwardTimes times;
    s.times = &times;
    std::vector<float> lg;
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE((*m)->forward(std::span<const SeqChunk>(&ch, 1), cache, lg, s, &pool).ok());
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    logits.push_back(lg);
    EXPECT_EQ(times.calls, 1);
    for (int op : {ForwardTimes::kNorm, ForwardTimes::kQkv, ForwardTimes::kAttention, ForwardTimes::kGateUp,
                   ForwardTimes::kSiluMul, ForwardTimes::kDown, ForwardTimes::kHead})
      EXPECT_GT(times.seconds[op], 0.0) << ForwardTimes::name(op);
    EXPECT_LE(times.total(), wall);
  }
  ASSERT_EQ(logits[0].size(), static_cast<size_t>(n) * static_cast<size_t>((*m)->config().vocab_size));
  EXPECT_EQ(logits[0], logits[1]);
  EXPECT_EQ(logits[0], logits[2]);
}

TEST(ShippedModelTest, HeldOutPerplexityMatchesPyTorch) {
  auto ppl_json = read_file(testdata_dir() + "/ref/tiny-kjv-ppl.json");
  ASSERT_TRUE(ppl_json.ok()) << ppl_json.status().to_string();
  auto j = nlohmann::json::parse(*ppl_json);
  // The token file sits beside the JSON (older data named it by absolute
  // path, which breaks when the data is copied to another machine).
  const std::string tokens_file =
      testdata_dir() + "/ref/" + std::filesystem::path(j["tokens_file"].get<std::string>()).filename().string();
  auto text = read_file(tokens_file);
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  auto ids = nlohmann::json::parse(*text).get<std::vector<int32_t>>();
  auto lm = load_model(kjv_dir());
  ASSERT_TRUE(lm.ok()) << lm.status().to_string();
  ThreadPool pool(2);
  auto r = perplexity(*lm->model, ids, j["window"].get<int32_t>(), lm->tokenizer->bos_id(), &pool);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const double torch_ppl = j["ppl"].get<double>();
  EXPECT_EQ(r->n_tokens, j["n_tokens"].get<int64_t>());
  EXPECT_LT(std::fabs(r->ppl() - torch_ppl) / torch_ppl, 0.005) << r->ppl() << " vs " << torch_ppl;
  std::printf("[ppl] tandem %.4f, PyTorch %.4f over %lld held-out tokens\n", r->ppl(), torch_ppl,
              static_cast<long long>(r->n_tokens));
}

TEST(ShippedModelTest, GgufAndSafetensorsGiveSameGreedyText) {
  auto hf = load_model(kjv_dir());
  auto gg = load_model(kjv_dir() + "/tiny-kjv-f16.gguf");
  ASSERT_TRUE(hf.ok()) << hf.status().to_string();
  ASSERT_TRUE(gg.ok()) << gg.status().to_string();
  ThreadPool pool(2);
  for (const char* prompt : {"In the beginning", "And Jesus answered and said unto them,"}) {
    EncodeOptions eo;
    auto p1 = hf->tokenizer->encode(prompt, eo);
    auto p2 = gg->tokenizer->encode(prompt, eo);
    ASSERT_EQ(p1, p2) << "tokenizer.model and the GGUF vocab disagree on '" << prompt << "'";
    GenerateOptions opt;
    opt.max_tokens = 64;
    opt.sampling.temperature = 0;
    auto a = generate(*hf->model, *hf->tokenizer, p1, opt, {}, &pool);
    auto b = generate(*gg->model, *gg->tokenizer, p2, opt, {}, &pool);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->text, b->text);
    EXPECT_FALSE(a->text.empty());
  }
}

TEST(ShippedModelTest, SeededSamplingIsReproducible) {
  auto lm = load_model(kjv_dir());
  ASSERT_TRUE(lm.ok()) << lm.status().to_string();
  auto p = lm->tokenizer->encode("And the LORD spake", {});
  GenerateOptions opt;
  opt.max_tokens = 40;
  opt.sampling.temperature = 0.9f;
  opt.sampling.top_p = 0.95f;
  opt.sampling.seed = 1234;
  ThreadPool pool1(1), pool2(2);
  auto a = generate(*lm->model, *lm->tokenizer, p, opt, {}, &pool1);
  auto b = generate(*lm->model, *lm->tokenizer, p, opt, {}, &pool2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
  opt.sampling.seed = 4321;
  auto c = generate(*lm->model, *lm->tokenizer, p, opt, {}, &pool2);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->tokens, c->tokens);
}

TEST(ShippedModelTest, StopStringEndsGenerationAndIsNotEmitted) {
  auto lm = load_model(kjv_dir());
  ASSERT_TRUE(lm.ok()) << lm.status().to_string();
  auto p = lm->tokenizer->encode("In the beginning", {});
  GenerateOptions opt;
  opt.max_tokens = 64;
  opt.sampling.temperature = 0;
  ThreadPool pool(2);
  auto full = generate(*lm->model, *lm->tokenizer, p, opt, {}, &pool);
  ASSERT_TRUE(full.ok());
  ASSERT_GT(full->text.size(), 12u);
  // Stop at the second word of the greedy text.
  const std::string stop = full->text.substr(6, 4);
  opt.stop = {stop};
  std::string streamed;
  auto cut = generate(*lm->model, *lm->tokenizer, p, opt, [&](std::string_view s) { streamed += s; }, &pool);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->finish, FinishReason::kStop);
  EXPECT_EQ(cut->text, full->text.substr(0, full->text.find(stop)));
  EXPECT_EQ(streamed, cut->text);
}

}  // namespace
}  // namespace tandem
