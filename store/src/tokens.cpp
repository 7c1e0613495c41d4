#include "progressista/tokens.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "progressista/query.hpp"
#include "text.hpp"

namespace progressista {

using detail::kSpaces;
using detail::trim;

TokenSet::TokenSet(std::vector<std::string> tokens) {
  for (auto& t : tokens) {
    if (!t.empty()) tokens_.push_back(std::move(t));
  }
}

TokenSet TokenSet::from_settings(std::string_view single, std::string_view list) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    if (const auto t = trim(list.substr(pos, comma - pos), kSpaces); !t.empty())
      out.emplace_back(t);
    pos = comma + 1;
  }
  if (out.empty() && !trim(single, kSpaces).empty()) out.emplace_back(trim(single, kSpaces));
  return TokenSet(std::move(out));
}

void TokenSet::add(std::string_view token) {
  if (const auto t = trim(token, kSpaces); !t.empty()) tokens_.emplace_back(t);
}

void TokenSet::add(const TokenSet& other) {
  tokens_.insert(tokens_.end(), other.tokens_.begin(), other.tokens_.end());
}

TokenSet TokenSet::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("cannot read tokens file " + path + ": " + std::strerror(errno));
  std::string list, line;
  while (std::getline(in, line)) {
    if (trim(line, kSpaces).starts_with('#')) continue;
    list += line;
    list += ',';
  }
  if (in.bad()) throw std::runtime_error("cannot read tokens file " + path + ": read error");
  return from_settings({}, list);
}

bool TokenSet::admits(std::string_view authorization, std::string_view query) const {
  if (empty()) return true;
  if (contains(bearer_token(authorization))) return true;
  std::string token;
  return query_param(query, "token", token) && contains(token);
}

bool TokenSet::contains(std::string_view candidate) const noexcept {
  if (candidate.empty()) return false;
  unsigned found = 0;
  for (const std::string& token : tokens_) {
    // Walk the whole token whatever the candidate is; a short candidate reads zeros.
    unsigned diff = static_cast<unsigned>(token.size() ^ candidate.size());
    for (std::size_t i = 0; i < token.size(); ++i) {
      const unsigned char c = i < candidate.size() ? static_cast<unsigned char>(candidate[i]) : 0;
      diff |= static_cast<unsigned char>(token[i]) ^ c;
    }
    found |= static_cast<unsigned>(diff == 0);
  }
  return found != 0;
}

std::string_view bearer_token(std::string_view authorization) noexcept {
  authorization = trim(authorization, kSpaces);
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  }
  return trim(authorization.substr(kScheme.size()), kSpaces);
}

}  // namespace progressista
