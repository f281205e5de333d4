// The built-in chat templates: recognition from Jinja sources and the exact prompt text, as
// the formats' published templates render the same conversation (jinja2 renders them so:
// tests/tokenize/render_templates.py checks these strings; the leading BOS is the tokenizer's).
#include "infergate/tokenize/chat_template.h"

#include <gtest/gtest.h>

#include <vector>

namespace infergate::tokenize {
namespace {

const std::vector<ChatMessage> kChat = {
    {"system", "Be brief."},
    {"user", "Hi"},
    {"assistant", "Hello!"},
    {"user", "2+2?"},
};

std::string Render(ChatTemplate t, const std::vector<ChatMessage>& m, bool gen = true) {
  auto r = RenderChat(t, m, gen);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : "";
}

TEST(ChatTemplate, Llama3) {
  EXPECT_EQ(Render(ChatTemplate::kLlama3, kChat),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // Content is trimmed as Meta's template does (| trim).
  EXPECT_EQ(Render(ChatTemplate::kLlama3, {{"user", "  x \n"}}, false),
            "<|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>");
}

TEST(ChatTemplate, ChatMl) {
  EXPECT_EQ(Render(ChatTemplate::kChatMl, kChat),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(Render(ChatTemplate::kChatMl, {{"user", "Hi"}}, false),
            "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplate, MistralPutsTheSystemPromptInTheFirstUserTurn) {
  EXPECT_EQ(Render(ChatTemplate::kMistral, kChat),
            "[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST] 2+2? [/INST]");
  EXPECT_EQ(Render(ChatTemplate::kMistral, {{"user", "Hi"}}), "[INST] Hi [/INST]");
  // Without a system message, exactly Mistral 7B Instruct v0.1's template.
  const std::vector<ChatMessage> no_system(kChat.begin() + 1, kChat.end());
  EXPECT_EQ(Render(ChatTemplate::kMistral, no_system),
            "[INST] Hi [/INST]Hello!</s>[INST] 2+2? [/INST]");
}

TEST(ChatTemplate, Llama2) {
  EXPECT_EQ(Render(ChatTemplate::kLlama2, kChat),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? [/INST]");
  EXPECT_EQ(Render(ChatTemplate::kLlama2, {{"user", " Hi "}}), "[INST] Hi [/INST]");
}

TEST(ChatTemplate, InstFormatsRefuseOtherRoles) {
  const std::vector<ChatMessage> tool = {{"user", "x"}, {"tool", "y"}};
  for (ChatTemplate t : {ChatTemplate::kMistral, ChatTemplate::kLlama2}) {
    auto r = RenderChat(t, tool, true);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("'tool'"), std::string::npos);
  }
  EXPECT_FALSE(RenderChat(ChatTemplate::kLlama2, {{{"user", "x"}, {"system", "late"}}}, true).ok());
  EXPECT_TRUE(RenderChat(ChatTemplate::kChatMl, tool, true).ok());
}

TEST(ChatTemplate, DetectByMarkers) {
  // Fragments of the templates the model files carry.
  EXPECT_EQ(*DetectChatTemplate("{{ '<|start_header_id|>' + message['role'] + "
                                "'<|end_header_id|>\\n\\n' }}"),
            ChatTemplate::kLlama3);
  EXPECT_EQ(*DetectChatTemplate("{{'<|im_start|>' + message['role'] + '\\n'}}"),
            ChatTemplate::kChatMl);
  EXPECT_EQ(*DetectChatTemplate("{{ bos_token + '[INST] ' + '<<SYS>>\\n' }}"),
            ChatTemplate::kLlama2);
  EXPECT_EQ(*DetectChatTemplate("{{ '[INST] ' + message['content'] + ' [/INST]' }}"),
            ChatTemplate::kMistral);
  auto unknown = DetectChatTemplate("{% for m in messages %}<start_of_turn>{% endfor %}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("auto | llama3 | chatml | mistral | llama2"),
            std::string::npos);
  EXPECT_FALSE(DetectChatTemplate("").ok());
}

TEST(ChatTemplate, DetectPublishedTemplates) {
  // The whole sources of tests/tokenize/render_templates.py, as the model files carry them.
  EXPECT_EQ(
      *DetectChatTemplate(
          R"j({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>

'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>

' }}{% endif %})j"),
      ChatTemplate::kLlama3);
  EXPECT_EQ(
      *DetectChatTemplate(
          R"j({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})j"),
      ChatTemplate::kLlama2);
  EXPECT_EQ(
      *DetectChatTemplate(
          R"j({{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %})j"),
      ChatTemplate::kMistral);
  EXPECT_EQ(
      *DetectChatTemplate(R"j({% for message in messages %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %})j"),
      ChatTemplate::kChatMl);
}

TEST(ChatTemplate, ResolveAutoOrByName) {
  EXPECT_EQ(*ResolveChatTemplate("auto", "<|im_start|>"), ChatTemplate::kChatMl);
  EXPECT_EQ(*ResolveChatTemplate("llama2", "<|im_start|>"), ChatTemplate::kLlama2);
  EXPECT_FALSE(ResolveChatTemplate("auto", "{{ messages }}").ok());
  EXPECT_FALSE(ResolveChatTemplate("Auto", "<|im_start|>").ok());
}

TEST(ChatTemplate, Names) {
  for (ChatTemplate t : {ChatTemplate::kLlama3, ChatTemplate::kChatMl, ChatTemplate::kMistral,
                         ChatTemplate::kLlama2}) {
    EXPECT_EQ(*ChatTemplateNamed(ChatTemplateName(t)), t);
  }
  auto bad = ChatTemplateNamed("gemma");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("'gemma'"), std::string::npos);
}

}  // namespace
}  // namespace infergate::tokenize
