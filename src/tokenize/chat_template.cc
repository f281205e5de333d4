// The built-in chat templates, written from the formats' published Jinja templates.
#include "infergate/tokenize/chat_template.h"

namespace infergate::tokenize {
namespace {

constexpr std::string_view kOptions = "auto | llama3 | chatml | mistral | llama2";

Unexpected<ChatTemplateError> Fail(std::string message) {
  return MakeUnexpected(ChatTemplateError{std::move(message)});
}

// Jinja's trim / Python's strip: ASCII white space at both ends.
std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

std::string Llama3(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
    out += Trim(m.content);
    out += "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string ChatMl(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// The [INST] formats take an optional leading system message and then user and assistant
// turns; a system message elsewhere or another role has no place in them.
Expected<std::string_view, ChatTemplateError> LeadingSystem(std::span<const ChatMessage>& messages,
                                                            std::string_view name) {
  std::string_view system;
  if (!messages.empty() && messages[0].role == "system") {
    system = messages[0].content;
    messages = messages.subspan(1);
  }
  for (const ChatMessage& m : messages) {
    if (m.role != "user" && m.role != "assistant") {
      return Fail("the " + std::string(name) + " chat template takes a system message first " +
                  "and then user and assistant messages, not '" + m.role + "'");
    }
  }
  return system;
}

Expected<std::string, ChatTemplateError> Mistral(std::span<const ChatMessage> messages,
                                                 const TemplateTokens& tokens) {
  auto system = LeadingSystem(messages, "mistral");
  if (!system) return MakeUnexpected(std::move(system.error()));
  std::string out;
  bool first_user = true;
  for (const ChatMessage& m : messages) {
    if (m.role == "user") {
      out += "[INST] ";
      // Mistral's templates put the system prompt in the first user turn.
      if (first_user && !system->empty()) out += std::string(*system) + "\n\n";
      out += m.content + " [/INST]";
      first_user = false;
    } else {
      out += m.content + tokens.eos;
    }
  }
  return out;
}

Expected<std::string, ChatTemplateError> Llama2(std::span<const ChatMessage> messages,
                                                const TemplateTokens& tokens) {
  auto system = LeadingSystem(messages, "llama2");
  if (!system) return MakeUnexpected(std::move(system.error()));
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user") {
      std::string content;
      if (i == 0 && !system->empty()) {
        content = "<<SYS>>\n" + std::string(*system) + "\n<</SYS>>\n\n";
      }
      content += m.content;
      // Every user turn but the first starts with BOS; the first one's is the tokenizer's.
      if (i > 0) out += tokens.bos;
      out += "[INST] ";
      out += Trim(content);
      out += " [/INST]";
    } else {
      out += " ";
      out += Trim(m.content);
      out += " " + tokens.eos;
    }
  }
  return out;
}

}  // namespace

Expected<ChatTemplate, ChatTemplateError> ChatTemplateNamed(std::string_view name) {
  if (name == "llama3") return ChatTemplate::kLlama3;
  if (name == "chatml") return ChatTemplate::kChatMl;
  if (name == "mistral") return ChatTemplate::kMistral;
  if (name == "llama2") return ChatTemplate::kLlama2;
  return Fail("unknown chat template '" + std::string(name) + "' (" + std::string(kOptions) + ")");
}

std::string_view ChatTemplateName(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::kLlama3:
      return "llama3";
    case ChatTemplate::kChatMl:
      return "chatml";
    case ChatTemplate::kMistral:
      return "mistral";
    case ChatTemplate::kLlama2:
      return "llama2";
  }
  return "?";
}

Expected<ChatTemplate, ChatTemplateError> DetectChatTemplate(std::string_view jinja_source) {
  auto has = [&](std::string_view marker) {
    return jinja_source.find(marker) != std::string_view::npos;
  };
  if (has("<|start_header_id|>")) return ChatTemplate::kLlama3;
  if (has("<|im_start|>")) return ChatTemplate::kChatMl;
  if (has("[INST]")) return has("<<SYS>>") ? ChatTemplate::kLlama2 : ChatTemplate::kMistral;
  if (jinja_source.empty())
    return Fail("the model file has no tokenizer.chat_template; set " +
                std::string("chat_template to one of: llama3 | chatml | ") + "mistral | llama2");
  return Fail("the model's tokenizer.chat_template is not one infergate knows; set " +
              std::string("chat_template to one of: ") + std::string(kOptions));
}

Expected<ChatTemplate, ChatTemplateError> ResolveChatTemplate(std::string_view setting,
                                                              std::string_view jinja_source) {
  if (setting == "auto") return DetectChatTemplate(jinja_source);
  return ChatTemplateNamed(setting);
}

Expected<std::string, ChatTemplateError> RenderChat(ChatTemplate t,
                                                    std::span<const ChatMessage> messages,
                                                    bool add_generation_prompt,
                                                    const TemplateTokens& tokens) {
  switch (t) {
    case ChatTemplate::kLlama3:
      return Llama3(messages, add_generation_prompt);
    case ChatTemplate::kChatMl:
      return ChatMl(messages, add_generation_prompt);
    case ChatTemplate::kMistral:
      return Mistral(messages, tokens);
    case ChatTemplate::kLlama2:
      return Llama2(messages, tokens);
  }
  return Fail("unknown chat template");
}

}  // namespace infergate::tokenize
