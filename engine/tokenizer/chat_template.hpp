// Chat prompts for instruct models. No Jinja interpreter: the ChatML family (<|im_start|>role\ncontent<|im_end|>\n)
// is recognised by its markers in tokenizer.chat_template and reproduced, including a default system message
// that the template inserts when the conversation does not start with one (e.g. SmolLM2's "You are a helpful AI
// assistant named SmolLM, trained by Hugging Face").
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer/tokenizer_data.hpp"

namespace ckv {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::string content;
};

struct ChatTemplate {
  // The text of the system message the template adds when the first message is not a system message.
  std::optional<std::string> default_system;
};

// Recognises a ChatML template. Throws std::invalid_argument naming the problem for an empty template or one
// outside the ChatML family.
ChatTemplate parse_chat_template(std::string_view jinja_source);

// The prompt text: [default system message] each message as <|im_start|>{role}\n{content}<|im_end|>\n, then
// <|im_start|>assistant\n when add_generation_prompt. Throws like parse_chat_template.
std::string apply_chat_template(const ChatTemplate& chat_template, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);
std::string apply_chat_template(const TokenizerData& data, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);

}  // namespace ckv
