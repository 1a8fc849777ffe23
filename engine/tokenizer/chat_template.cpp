#include "engine/tokenizer/chat_template.hpp"

#include <stdexcept>

namespace ckv {
namespace {

constexpr std::string_view kStart = "<|im_start|>";
constexpr std::string_view kEnd = "<|im_end|>";

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

bool mentions_field(std::string_view tpl, std::string_view field) {
  const std::string f(field);
  return contains(tpl, "message['" + f + "']") || contains(tpl, "message[\"" + f + "\"]") ||
         contains(tpl, "message." + f);
}

// The value of a Jinja string literal body (escapes resolved), or nothing if it is not a plain literal.
std::optional<std::string> literal_text(std::string_view body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '\'' || c == '"' || c == '{' || c == '}') return std::nullopt;  // the literal ends inside: an expression
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == body.size()) return std::nullopt;
    switch (body[i]) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': case '\'': case '"': out += body[i]; break;
      default: return std::nullopt;
    }
  }
  return out;
}

// A literal '<|im_start|>system\n...<|im_end|>' in the template: the default system message.
std::optional<std::string> find_default_system(std::string_view tpl) {
  const std::string head = std::string(kStart) + "system";
  for (size_t at = tpl.find(head); at != std::string_view::npos; at = tpl.find(head, at + 1)) {
    size_t body = at + head.size();
    if (tpl.substr(body, 1) == "\n") {
      body += 1;
    } else if (tpl.substr(body, 2) == "\\n") {
      body += 2;
    } else {
      continue;
    }
    const size_t end = tpl.find(kEnd, body);
    if (end == std::string_view::npos) break;
    if (auto text = literal_text(tpl.substr(body, end - body))) return text;
  }
  return std::nullopt;
}

}  // namespace

ChatTemplate parse_chat_template(std::string_view tpl) {
  if (tpl.empty()) throw std::invalid_argument("the model has no chat template (tokenizer.chat_template is empty)");
  if (!contains(tpl, kStart) || !contains(tpl, kEnd) || !mentions_field(tpl, "role") ||
      !mentions_field(tpl, "content"))
    throw std::invalid_argument(
        "unsupported chat template: only ChatML templates (<|im_start|>{role}\\n{content}<|im_end|>) are handled");
  return ChatTemplate{find_default_system(tpl)};
}

std::string apply_chat_template(const ChatTemplate& chat_template, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  std::string out;
  auto append_turn = [&](std::string_view role, std::string_view content) {
    out.append(kStart).append(role).append("\n").append(content).append(kEnd).append("\n");
  };
  if (!messages.empty() && messages.front().role != "system" && chat_template.default_system)
    append_turn("system", *chat_template.default_system);
  for (const ChatMessage& m : messages) append_turn(m.role, m.content);
  if (add_generation_prompt) out.append(kStart).append("assistant\n");
  return out;
}

std::string apply_chat_template(const TokenizerData& data, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  return apply_chat_template(parse_chat_template(data.chat_template), messages, add_generation_prompt);
}

}  // namespace ckv
