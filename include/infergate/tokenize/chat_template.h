// Chat templates for the in-process runner: the common formats, recognised from a GGUF file's
// tokenizer.chat_template (Jinja source) by their markers and rendered by built-in code, so no
// Jinja engine is needed. The rendered text is tokenized with parse_special on and BOS added
// by the tokenizer (add_special), which is why no renderer writes the leading BOS itself.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "infergate/core/expected.h"

namespace infergate::tokenize {

enum class ChatTemplate {
  kLlama3,   // <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
  kChatMl,   // <|im_start|>role\ncontent<|im_end|>\n (Qwen2)
  kMistral,  // [INST] user [/INST] assistant</s>; a system message joins the first user turn
  kLlama2,   // [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant </s><s>[INST] ...
};

struct ChatTemplateError {
  std::string message;  // names the accepted options
};

struct ChatMessage {
  std::string role;  // system | user | assistant (llama3 and chatml take any role, e.g. tool)
  std::string content;
};

// The texts of BOS and EOS in the vocabulary: llama2 and mistral write them between turns.
struct TemplateTokens {
  std::string bos = "<s>";
  std::string eos = "</s>";
};

// The names a config may give: "llama3" | "chatml" | "mistral" | "llama2". "auto" is not a
// template: the caller resolves it with Detect.
Expected<ChatTemplate, ChatTemplateError> ChatTemplateNamed(std::string_view name);
std::string_view ChatTemplateName(ChatTemplate t);

// Which built-in template a tokenizer.chat_template source is, by its distinctive markers:
// "<|start_header_id|>" llama3, "<|im_start|>" chatml, "[INST]" with "<<SYS>>" llama2, "[INST]"
// without it mistral. Anything else is an error naming the options.
Expected<ChatTemplate, ChatTemplateError> DetectChatTemplate(std::string_view jinja_source);

// The runner's chat_template setting: "auto" detects from the file's template, a name picks
// one (and ignores the file's).
Expected<ChatTemplate, ChatTemplateError> ResolveChatTemplate(std::string_view setting,
                                                              std::string_view jinja_source);

// The prompt text. add_generation_prompt opens the assistant's turn (llama3, chatml; the
// [INST] formats end every prompt ready for the assistant anyway). An error for a message
// order or role the template cannot express.
Expected<std::string, ChatTemplateError> RenderChat(ChatTemplate t,
                                                    std::span<const ChatMessage> messages,
                                                    bool add_generation_prompt,
                                                    const TemplateTokens& tokens = {});

}  // namespace infergate::tokenize
