#include "niah.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "engine/tokenizer/chat_template.hpp"

namespace ckv {

namespace {

// Every haystack sentence and the needle follow a space, so each tokenizes as its own span.
const char* const kIntro = "Read the following text carefully, then answer the question after it.\n\nText:";
const char* const kAsk = "\n\nAnswer this question using the text above: ";

std::string field(const nlohmann::json& j, const char* name, const std::string& where) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_string() || it->get<std::string>().empty())
    throw std::runtime_error(where + ": missing or empty \"" + name + "\"");
  return it->get<std::string>();
}

bool starts_with(const std::vector<int32_t>& all, const std::vector<int32_t>& head) {
  return head.size() <= all.size() && std::equal(head.begin(), head.end(), all.begin());
}

// The prompt for haystack sentences [0, count) (cycling) with the needle before sentence `at`, split into the
// text before the needle, the needle (with its leading space) and the text after it.
struct PromptText {
  std::string before, needle, after;
};

PromptText prompt_text(const Tokenizer& tokenizer, const std::vector<std::string>& haystack, const Needle& needle,
                       size_t count, size_t at) {
  std::string before = kIntro, after;
  for (size_t i = 0; i < at; ++i) before += " " + haystack[i % haystack.size()];
  for (size_t i = at; i < count; ++i) after += " " + haystack[i % haystack.size()];
  after += kAsk + needle.question;
  const std::string needle_text = " " + needle.text;
  const TokenizerData& data = tokenizer.data();
  if (data.chat_template.empty()) return {before, needle_text, after};
  const std::string content = before + needle_text + after;
  const std::string templated = apply_chat_template(data, {ChatMessage{"user", content}}, true);
  const size_t pos = templated.find(content);
  if (pos == std::string::npos) throw std::logic_error("the chat template does not contain the message verbatim");
  return {templated.substr(0, pos) + before, needle_text, after + templated.substr(pos + content.size())};
}

std::vector<int32_t> encode(const Tokenizer& tokenizer, const std::string& text) {
  return tokenizer.encode(text, tokenizer.data().add_bos, /*parse_special=*/true);
}

}  // namespace

std::vector<Needle> load_needles(const std::filesystem::path& path, std::string_view set) {
  if (set != "heads" && set != "evaluation")
    throw std::invalid_argument("needle set must be heads or evaluation, not '" + std::string(set) + "'");
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path.string() + ": cannot open the needles file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path.string() + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw std::runtime_error(path.string() + ": expected {\"heads\": [...], \"evaluation\": [...]}");
  std::map<std::string, std::vector<Needle>> sets;
  std::set<std::string> ids, texts;
  for (const char* name : {"heads", "evaluation"}) {
    const auto it = j.find(name);
    if (it == j.end() || !it->is_array() || it->empty())
      throw std::runtime_error(path.string() + ": no \"" + name + "\" list of needles");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string where = path.string() + ": " + name + "[" + std::to_string(i) + "]";
      const auto& n = (*it)[i];
      if (!n.is_object()) throw std::runtime_error(where + ": expected an object");
      Needle needle{field(n, "id", where), field(n, "needle", where), field(n, "question", where),
                    field(n, "answer", where)};
      if (!ids.insert(needle.id).second || !texts.insert(needle.text).second)
        throw std::runtime_error(where + ": needle '" + needle.id + "' appears twice (the sets must be disjoint)");
      if (answer_words(needle.answer).empty()) throw std::runtime_error(where + ": the answer has no words");
      sets[name].push_back(std::move(needle));
    }
  }
  return sets[std::string(set)];
}

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> sentences;
  std::string current;
  bool space = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !current.empty();
      continue;
    }
    if (space) current += ' ';
    space = false;
    current += c;
    const bool end = c == '.' || c == '!' || c == '?';
    const bool next_is_space = i + 1 == text.size() || std::isspace(static_cast<unsigned char>(text[i + 1]));
    if (end && next_is_space) {
      sentences.push_back(current);
      current.clear();
    }
  }
  if (!current.empty()) sentences.push_back(current);
  return sentences;
}

std::vector<std::string> load_haystack_sentences(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open the haystack file");
  std::stringstream text;
  text << in.rdbuf();
  auto sentences = split_sentences(text.str());
  if (sentences.empty()) throw std::runtime_error(path.string() + ": the haystack has no sentences");
  return sentences;
}

NiahPrompt build_niah_prompt(const Tokenizer& tokenizer, const std::vector<std::string>& haystack,
                             const Needle& needle, uint32_t length, double depth) {
  if (!(depth >= 0.0 && depth <= 1.0))
    throw std::invalid_argument("needle depth " + std::to_string(depth) + " is outside [0, 1]");
  if (haystack.empty()) throw std::invalid_argument("the haystack is empty");
  const auto total = [&](const PromptText& t) { return encode(tokenizer, t.before + t.needle + t.after).size(); };
  const size_t overhead = total(prompt_text(tokenizer, haystack, needle, 0, 0));
  if (overhead + 16 > length)
    throw std::invalid_argument("a prompt of " + std::to_string(length) + " tokens is too short: template, needle " +
                                "and question alone take " + std::to_string(overhead));

  // Sentences (cycling through the haystack) whose tokens fit; their token counts place the needle.
  std::vector<size_t> sentence_tokens;
  size_t used = overhead;
  for (size_t i = 0;; ++i) {
    const size_t n = tokenizer.encode(" " + haystack[i % haystack.size()], false, false).size();
    if (used + n > length) break;
    used += n;
    sentence_tokens.push_back(n);
  }
  for (;;) {
    const size_t count = sentence_tokens.size();
    size_t all = 0;
    for (size_t n : sentence_tokens) all += n;
    size_t at = 0, before = 0, best_before = 0;
    double best = 2.0;
    for (size_t i = 0; i <= count; ++i) {
      const double d = all ? double(before) / double(all) : 0.0;
      if (std::abs(d - depth) < best) {
        best = std::abs(d - depth);
        at = i;
        best_before = before;
      }
      if (i < count) before += sentence_tokens[i];
    }
    const PromptText text = prompt_text(tokenizer, haystack, needle, count, at);
    NiahPrompt prompt;
    prompt.tokens = encode(tokenizer, text.before + text.needle + text.after);
    if (prompt.tokens.size() > length && count > 0) {  // sentence-wise counts were a little off: drop one
      sentence_tokens.pop_back();
      continue;
    }
    const auto head = encode(tokenizer, text.before);
    const auto with_needle = encode(tokenizer, text.before + text.needle);
    if (!starts_with(prompt.tokens, head) || !starts_with(prompt.tokens, with_needle) ||
        with_needle.size() <= head.size())
      throw std::logic_error("needle '" + needle.id + "' does not tokenize as its own span of the prompt");
    prompt.needle_begin = uint32_t(head.size());
    prompt.needle_end = uint32_t(with_needle.size());
    prompt.depth = all ? double(best_before) / double(all) : 0.0;
    return prompt;
  }
}

std::vector<std::string> answer_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      word += char(std::tolower(u));
    } else if (std::isspace(u) || c == '-' || c == '/') {
      if (!word.empty()) words.push_back(word);
      word.clear();
    }  // other punctuation is dropped inside the word ("Mara's" → "maras")
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

double rouge1_recall(std::string_view answer, std::string_view expected) {
  const auto want = answer_words(expected);
  if (want.empty()) return 0.0;
  std::map<std::string, int> have;
  for (const auto& w : answer_words(answer)) ++have[w];
  size_t hit = 0;
  for (const auto& w : want)
    if (have[w]-- > 0) ++hit;
  return double(hit) / double(want.size());
}

void check_niah_grid(const std::vector<uint32_t>& lengths, const std::vector<double>& depths,
                     uint32_t context_length, uint32_t new_tokens) {
  if (lengths.empty() || depths.empty()) throw std::invalid_argument("give at least one length and one depth");
  for (double d : depths)
    if (!(d >= 0.0 && d <= 1.0)) throw std::invalid_argument("depth " + std::to_string(d) + " is outside [0, 1]");
  for (uint32_t l : lengths) {
    if (l == 0) throw std::invalid_argument("context length 0 is not a length");
    if (uint64_t(l) + new_tokens > context_length)
      throw std::invalid_argument("context length " + std::to_string(l) + " plus " + std::to_string(new_tokens) +
                                  " new tokens exceeds the model's context of " + std::to_string(context_length));
  }
}

}  // namespace ckv
