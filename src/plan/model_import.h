// Model shapes from the model module's readers: a Hugging Face config.json
// (config_from_hf_json) or a GGUF header (config_from_gguf), plus the MoE and
// MLA keys those readers do not know (read here from the same file).
// Separate library (tandem_plan_import) so that tandem_plan itself does not
// link the model module.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "model/config.h"
#include "plan/model_spec.h"

namespace tandem::plan {

// weight_bytes: bytes per stored parameter; kv_bytes: bytes per cached value.
ModelSpec model_spec_from_config(const ModelConfig& c, const std::string& name, double weight_bytes,
                                 double kv_bytes, const std::string& compute_dtype);

// `what`: a catalog name, a config.json file, a directory holding one, or a
// .gguf file. GGUF: weight bytes from the stored dtype of the first layer's
// Q projection, KV bytes 2 (an f16/bf16 cache on the serving hardware).
Result<ModelSpec> resolve_model(const std::string& what, const std::vector<ModelSpec>& catalog);

}  // namespace tandem::plan
