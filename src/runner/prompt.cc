// Prompt building. Special-token text in a user's message is parsed as special tokens in the
// chat path, as llama.cpp's server does after applying a template (the template's own markers
// need it and the rendered text no longer tells them apart); the legacy prompt is user text only.
#include "infergate/runner/prompt.h"

namespace infergate::runner {

Expected<std::vector<TokenId>, RequestError> BuildPrompt(const tokenize::Tokenizer& tokenizer,
                                                         tokenize::ChatTemplate chat_template,
                                                         const GenerationRequest& request) {
  tokenize::EncodeOptions options;
  options.add_special = true;
  if (!request.chat) {
    options.parse_special = false;
    return tokenizer.Encode(request.prompt, options);
  }
  tokenize::TemplateTokens tokens;
  if (tokenizer.bos() != tokenize::kNoToken) tokens.bos = tokenizer.Text(tokenizer.bos());
  if (tokenizer.eos() != tokenize::kNoToken) tokens.eos = tokenizer.Text(tokenizer.eos());
  auto text = tokenize::RenderChat(chat_template, request.messages,
                                   /*add_generation_prompt=*/true, tokens);
  if (!text) {
    return Unexpected<RequestError>{RequestError{text.error().message, "messages", false}};
  }
  options.parse_special = true;
  return tokenizer.Encode(*text, options);
}

}  // namespace infergate::runner
