// Loading broken model files gives clear errors naming the file, the tensor
// and the problem; never a crash.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/model_loader.h"
#include "test_util.h"

namespace tandem {
namespace {

namespace fs = std::filesystem;
using testing::testdata_dir;

class ModelLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() / ("tandem_load_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // A copy of the llama f32 test model directory whose config.json has been edited.
  std::string edited_hf_dir(const std::function<void(nlohmann::json&)>& edit) {
    const fs::path src = fs::path(testdata_dir()) / "models" / "llama-f32";
    const fs::path dst = tmp_ / "model";
    fs::create_directories(dst);
    fs::copy_file(src / "model.safetensors", dst / "model.safetensors");
    nlohmann::json cfg = nlohmann::json::parse(*read_file((src / "config.json").string()));
    edit(cfg);
    EXPECT_TRUE(write_file((dst / "config.json").string(), cfg.dump()).ok());
    return dst.string();
  }

  // Writes a safetensors file holding the llama test model's tensors except
  // `drop`, with `retype` (if set) stored as the given dtype string.
  std::string rewritten_safetensors(const std::string& drop, const std::string& retype,
                                    const std::string& new_dtype) {
    const fs::path src = fs::path(testdata_dir()) / "models" / "llama-f32";
    auto st = SafetensorsFile::open((src / "model.safetensors").string());
    EXPECT_TRUE(st.ok());
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const TensorInfo& t : st->tensors()) {
      if (t.name == drop) continue;
      std::string dtype = t.name == retype ? new_dtype : "F32";
      header[t.name] = {{"dtype", dtype},
                        {"shape", t.view.shape},
                        {"data_offsets", {data.size(), data.size() + t.view.nbytes}}};
      data.append(static_cast<const char*>(t.view.data), t.view.nbytes);
    }
    std::string h = header.dump();
    while (h.size() % 8 != 0) h.push_back(' ');
    std::string file(8, '\0');
    uint64_t n = h.size();
    std::memcpy(file.data(), &n, 8);
    file += h + data;
    const fs::path dst = tmp_ / "model";
    fs::create_directories(dst);
    fs::copy_file(src / "config.json", dst / "config.json", fs::copy_options::overwrite_existing);
    EXPECT_TRUE(write_file((dst / "model.safetensors").string(), file).ok());
    return dst.string();
  }

  fs::path tmp_;
};

void expect_error(const Result<std::unique_ptr<Model>>& r, StatusCode code,
                  std::initializer_list<const char*> needles) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  for (const char* n : needles)
    EXPECT_NE(r.status().message().find(n), std::string::npos) << "'" << n << "' not in: " << r.status().message();
}

TEST_F(ModelLoadTest, MissingPathAndNotAModel) {
  expect_error(Model::load((tmp_ / "nope").string()), StatusCode::kNotFound, {"nope"});
  const std::string junk = (tmp_ / "junk.gguf").string();
  ASSERT_TRUE(write_file(junk, "this is not a model").ok());
  expect_error(Model::load(junk), StatusCode::kInvalidArgument, {"junk.gguf", "GGUF"});
  expect_error(Model::load(tmp_.string()), StatusCode::kNotFound, {"config.json"});
}

TEST_F(ModelLoadTest, UnknownArchitecture) {
  auto dir = edited_hf_dir([](nlohmann::json& c) { c["model_type"] = "gpt_neox"; });
  expect_error(Model::load(dir), StatusCode::kUnimplemented, {"config.json", "gpt_neox"});
}

TEST_F(ModelLoadTest, ShapeMismatchNamesTensor) {
  auto dir = edited_hf_dir([](nlohmann::json& c) { c["intermediate_size"] = 96; });
  expect_error(Model::load(dir), StatusCode::kInvalidArgument, {"mlp.gate_proj.weight", "shape", "expected"});
}

TEST_F(ModelLoadTest, BadConfigValues) {
  auto dir = edited_hf_dir([](nlohmann::json& c) { c["num_key_value_heads"] = 3; });
  expect_error(Model::load(dir), StatusCode::kInvalidArgument, {"config.json", "KV heads"});
  fs::remove_all(tmp_ / "model");
  dir = edited_hf_dir([](nlohmann::json& c) { c["hidden_size"] = "wide"; });
  expect_error(Model::load(dir), StatusCode::kInvalidArgument, {"hidden_size"});
  fs::remove_all(tmp_ / "model");
  dir = edited_hf_dir([](nlohmann::json& c) { c.erase("num_hidden_layers"); });
  expect_error(Model::load(dir), StatusCode::kInvalidArgument, {"num_hidden_layers"});
}

TEST_F(ModelLoadTest, MissingTensorNamesIt) {
  auto dir = rewritten_safetensors("model.layers.1.self_attn.v_proj.weight", "", "");
  expect_error(Model::load(dir), StatusCode::kNotFound, {"model.layers.1.self_attn.v_proj.weight", "missing"});
}

TEST_F(ModelLoadTest, UnsupportedDtypeNamesIt) {
  auto dir = rewritten_safetensors("", "model.norm.weight", "I32");
  auto r = Model::load(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model.norm.weight"), std::string::npos) << r.status().to_string();
}

TEST_F(ModelLoadTest, TruncatedGgufAtManyOffsets) {
  const std::string src = testdata_dir() + "/models/qwen2-q4_0.gguf";
  auto whole = read_file(src);
  ASSERT_TRUE(whole.ok());
  const std::string path = (tmp_ / "cut.gguf").string();
  for (size_t len : {size_t{3}, size_t{4}, size_t{20}, size_t{100}, size_t{1000}, whole->size() / 2,
                     whole->size() - 1}) {
    ASSERT_TRUE(write_file(path, whole->substr(0, len)).ok());
    auto r = Model::load(path);
    ASSERT_FALSE(r.ok()) << "length " << len;
    EXPECT_NE(r.status().message().find("cut.gguf"), std::string::npos) << r.status().to_string();
  }
}

TEST_F(ModelLoadTest, GgufUnknownArchitecture) {
  // Same bytes, architecture string patched to a same-length unknown name.
  auto whole = read_file(testdata_dir() + "/models/llama-f32.gguf");
  ASSERT_TRUE(whole.ok());
  std::string bytes = *whole;
  const std::string key = "general.architecture";
  size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  size_t val = bytes.find("llama", at + key.size());
  ASSERT_NE(val, std::string::npos);
  bytes.replace(val, 5, "gptj5");
  const std::string path = (tmp_ / "arch.gguf").string();
  ASSERT_TRUE(write_file(path, bytes).ok());
  expect_error(Model::load(path), StatusCode::kUnimplemented, {"arch.gguf", "gptj5"});
}

TEST_F(ModelLoadTest, ValidModelsLoadWithTokenizer) {
  auto lm = load_model(testdata_dir() + "/models/mistral-q8_0.gguf");
  ASSERT_TRUE(lm.ok()) << lm.status().to_string();
  EXPECT_EQ(lm->model->config().arch, Arch::kLlama);  // llama.cpp stores mistral as "llama"
  EXPECT_GT(lm->tokenizer->vocab_size(), 256);
}

}  // namespace
}  // namespace tandem
