// A request's prompt as token ids: chat messages rendered with the model's chat template (the
// assistant's turn opened) and encoded with special tokens parsed; a legacy prompt encoded as it
// is, BOS as the vocabulary asks.
#pragma once

#include <vector>

#include "infergate/core/expected.h"
#include "infergate/runner/request.h"
#include "infergate/tokenize/chat_template.h"
#include "infergate/tokenize/tokenizer.h"

namespace infergate::runner {

Expected<std::vector<TokenId>, RequestError> BuildPrompt(const tokenize::Tokenizer& tokenizer,
                                                         tokenize::ChatTemplate chat_template,
                                                         const GenerationRequest& request);

}  // namespace infergate::runner
