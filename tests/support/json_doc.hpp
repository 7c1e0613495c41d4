// A parsed JSON document (a frame, an HTTP body) with the lookups the daemon tests make; the
// parser owns the document. Every lookup of a missing or mistyped member answers an empty value.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

namespace progressista::testing {

struct JsonDoc {
  explicit JsonDoc(const std::string& text) {
    ok = parser.parse(text).get(root) == simdjson::SUCCESS;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;

  [[nodiscard]] std::string str(std::string_view key) const {
    std::string_view v;
    return ok && root[key].get_string().get(v) == simdjson::SUCCESS ? std::string(v)
                                                                    : std::string();
  }
  [[nodiscard]] std::uint64_t u64(std::string_view key) const {
    std::uint64_t v = 0;
    return ok && root[key].get_uint64().get(v) == simdjson::SUCCESS ? v : 0;
  }
  [[nodiscard]] bool flag(std::string_view key) const {
    bool v = false;
    return ok && root[key].get_bool().get(v) == simdjson::SUCCESS && v;
  }
  // The member names of the object `member`.
  [[nodiscard]] std::set<std::string> keys(std::string_view member) const {
    std::set<std::string> out;
    simdjson::dom::object o;
    if (ok && root[member].get_object().get(o) == simdjson::SUCCESS) {
      for (auto [k, v] : o) out.emplace(k);
    }
    return out;
  }
  // n of tasks[id] inside member ("tasks" or "upserts"); -1 when absent.
  [[nodiscard]] double n_of(std::string_view member, std::string_view id) const {
    double n = -1;
    if (!ok || root[member][id]["n"].get_double().get(n) != simdjson::SUCCESS) return -1;
    return n;
  }
  // "event task_id" for each entry of a delta frame's "events".
  [[nodiscard]] std::vector<std::string> events() const {
    std::vector<std::string> out;
    simdjson::dom::array a;
    if (!ok || root["events"].get_array().get(a) != simdjson::SUCCESS) return out;
    for (auto e : a) {
      std::string_view ev, id;
      if (e["event"].get_string().get(ev) == simdjson::SUCCESS &&
          e["task_id"].get_string().get(id) == simdjson::SUCCESS) {
        out.push_back(std::string(ev) + " " + std::string(id));
      }
    }
    return out;
  }
};

}  // namespace progressista::testing
