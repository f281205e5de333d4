// LoadLogitsModel for a build without the forward pass (the llm part): the gguf runner loads its
// tokenizer and answers nothing, so every request falls through to the next fallback.
#include "infergate/gguf/gguf_file.h"
#include "infergate/runner/logits_source.h"

namespace infergate::runner {

Expected<std::shared_ptr<LogitsModel>, std::string> LoadLogitsModel(
    std::shared_ptr<const gguf::GgufFile>, int) {
  return Unexpected<std::string>{"this build has no model forward pass (the llm part)"};
}

}  // namespace infergate::runner
